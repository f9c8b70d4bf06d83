-- registries.lua: the pharmacy and courier registries (part of the
-- rxd_orders library, see lib_head.lua): pharmacy records, opening and
-- stock; courier positions and availability; their lifecycle (stale
-- couriers leave the geo index, deregistration while nothing is held).

-- A pharmacy that opened or restocked may serve held orders: those within
-- the largest routing radius of it and those that nominated it go back to
-- routing (at most HOLD_BATCH_MAX per call; the rest by the next change).
-- Replies how many went.
local function hold_release_near(cx, ph, reason)
  local P = cx.p
  local p = redis.call('HMGET', phkey(P, ph), 'lat', 'lon')
  local n = 0
  for _, oid in ipairs(redis.call('SRANDMEMBER', hold_nom(P, ph), HOLD_BATCH_MAX)) do
    n = n + hold_release(cx, oid, 'hold_released', reason)
  end
  if p[1] and n < HOLD_BATCH_MAX then
    local _, radius = hold_settings(P)
    local ids = redis.call('GEOSEARCH', hold_geo(P), 'FROMLONLAT', p[2], p[1], 'BYRADIUS', radius,
      'm', 'ASC', 'COUNT', HOLD_BATCH_MAX - n)
    for _, oid in ipairs(ids) do n = n + hold_release(cx, oid, 'hold_released', reason) end
  end
  return n
end

-- Couriers by the time of their last position, for the stale sweep.
local function co_seen(P) return P .. 'idx:co:seen' end

-- pharmacy_put id name lat lon open capacity cold insurance
register('pharmacy_put', { 'id:id', 'name:str', 'lat:num', 'lon:num', 'open:int', 'capacity:int', 'cold:int',
  'insurance:int' }, function(cx, A)
  local P, NOW = cx.p, cx.now
  local k = phkey(P, A[1])
  redis.call('HSET', k, 'id', A[1], 'name', A[2], 'lat', A[3], 'lon', A[4], 'open', A[5],
    'capacity', A[6], 'cold', A[7], 'insurance', A[8], 'updated_ms', NOW)
  redis.call('GEOADD', ph_geo(P), A[4], A[3], A[1])
  -- a pharmacy registered (or moved) open may serve orders held near it
  if A[5] == '1' then hold_release_near(cx, A[1], 'pharmacy_opened') end
  return { 'ok' }
end)

-- pharmacy_status id open
register('pharmacy_status', { 'id:id', 'open:int' }, function(cx, A)
  local P, NOW = cx.p, cx.now
  local k = phkey(P, A[1])
  if redis.call('EXISTS', k) == 0 then return { 'err', 'not_found', '' } end
  redis.call('HSET', k, 'open', A[2], 'updated_ms', NOW)
  if A[2] == '1' then return { 'ok', tostring(hold_release_near(cx, A[1], 'pharmacy_opened')) } end
  return { 'ok', '0' }
end)

-- pharmacy_stock id code qty code qty ...: replaces the whole stock list
register('pharmacy_stock', { 'id:id', rest = { 'code:str', 'qty:num' } }, function(cx, A)
  local P, NOW = cx.p, cx.now
  local k = phkey(P, A[1])
  if redis.call('EXISTS', k) == 0 then return { 'err', 'not_found', '' } end
  redis.call('DEL', k .. ':stock')
  if #A > 1 then redis.call('HSET', k .. ':stock', unpack(A, 2)) end
  redis.call('HSET', k, 'stock_known', 1, 'updated_ms', NOW)
  return { 'ok', tostring((#A - 1) / 2) }
end)

-- pharmacy_stock_all id items_json: pharmacy_stock for a whole catalogue in
-- one atomic call ({"<code>": qty, ...}, up to the API's 2000 items), which
-- the argument-per-item form cannot carry; HSET in slices so that unpack
-- stays far below Lua's stack limit
register('pharmacy_stock_all', { 'id:id', 'items_json:str' }, function(cx, A)
  local P, NOW = cx.p, cx.now
  local k = phkey(P, A[1])
  if redis.call('EXISTS', k) == 0 then return { 'err', 'not_found', '' } end
  redis.call('DEL', k .. ':stock')
  local slice, n = {}, 0
  for code, qty in pairs(cjson.decode(A[2])) do
    slice[#slice + 1] = code
    slice[#slice + 1] = tostring(qty)
    n = n + 1
    if #slice >= 400 then
      redis.call('HSET', k .. ':stock', unpack(slice))
      slice = {}
    end
  end
  if #slice > 0 then redis.call('HSET', k .. ':stock', unpack(slice)) end
  redis.call('HSET', k, 'stock_known', 1, 'updated_ms', NOW)
  if redis.call('HGET', k, 'open') == '1' then hold_release_near(cx, A[1], 'restocked') end
  return { 'ok', tostring(n) }
end)

-- Stores one position of courier c unless it is not newer than the stored
-- one (buffered batches and retries arrive late or twice). 1 when stored.
-- Judged against the server's clock too: a point dated beyond the skew is
-- never stored, and a stored one dated beyond it (kept from before the
-- gateways refused them) gives way to any real point instead of blocking
-- the courier's positions until its date.
local function courier_put_point(cx, c, lat, lon, ts)
  local P, NOW = cx.p, cx.now
  local k = cokey(P, c)
  local t = tonumber(ts)
  if not t or t > NOW + FUTURE_SKEW_MS then return 0 end
  local last = tonumber(redis.call('HGET', k, 'ts_ms') or '-1') or -1
  if last > NOW + FUTURE_SKEW_MS then last = -1 end
  if t <= last then return 0 end
  redis.call('HSET', k, 'id', c, 'lat', lat, 'lon', lon, 'ts_ms', ts)
  redis.call('GEOADD', co_geo(P), lon, lat, c)
  redis.call('ZADD', co_seen(P), t, c)
  return 1
end

-- courier_loc id lat lon ts_ms: older points than the stored one are ignored
register('courier_loc', { 'id:id', 'lat:num', 'lon:num', 'ts_ms:num' }, function(cx, A)
  local P, NOW = cx.p, cx.now
  if courier_put_point(cx, A[1], A[2], A[3], A[4]) == 1 then return { 'ok', 'stored' } end
  return { 'ok', 'stale' }
end)

-- courier_loc_many id lat lon ts_ms [id lat lon ts_ms ...]: courier_loc for
-- the positions courier-gw received together, in arrival order; one status
-- ('stored' or 'stale') per position
register('courier_loc_many', { rest = { 'id:id', 'lat:num', 'lon:num', 'ts_ms:num' }, rest_min = 1 }, function(cx, A)
  local P, NOW = cx.p, cx.now
  local out = { 'ok' }
  for i = 1, #A - 3, 4 do
    out[#out + 1] = courier_put_point(cx, A[i], A[i + 1], A[i + 2], A[i + 3]) == 1 and 'stored'
      or 'stale'
  end
  return out
end)

-- courier_locs id points_json: [["lat","lon","ts_ms"], ...] in the order the
-- app buffered them; replies how many were stored (newer than the last one)
register('courier_locs', { 'id:id', 'points_json:str' }, function(cx, A)
  local P, NOW = cx.p, cx.now
  local n = 0
  for _, p in ipairs(cjson.decode(A[2])) do
    n = n + courier_put_point(cx, A[1], p[1], p[2], p[3])
  end
  return { 'ok', tostring(n) }
end)

-- courier_avail id available cold capacity: setting itself available again
-- also forgives the misses that took it off
register('courier_avail', { 'id:id', 'available:int', 'cold:int', 'capacity:int' }, function(cx, A)
  local P, NOW = cx.p, cx.now
  local k = cokey(P, A[1])
  redis.call('HSET', k, 'id', A[1], 'available', A[2], 'cold', A[3], 'capacity', A[4])
  if A[2] == '1' then redis.call('HSET', k, 'misses', 0) end
  return { 'ok' }
end)

-- courier_stale before_ms limit: couriers whose last position is older
-- than before_ms leave the geo index (the dispatcher's sweep); their next
-- position brings them back. { 'ok', how many left }
register('courier_stale', { 'before_ms:int', 'limit:int' }, function(cx, A)
  local P = cx.p
  local ids = redis.call('ZRANGEBYSCORE', co_seen(P), '-inf', '(' .. A[1], 'LIMIT', 0, tonumber(A[2]))
  for _, c in ipairs(ids) do
    redis.call('ZREM', co_geo(P), c)
    redis.call('ZREM', co_seen(P), c)
  end
  return { 'ok', tostring(#ids) }
end)

-- courier_remove id / pharmacy_remove id: deregistration. Refused while
-- it holds orders ({ 'busy', how many }), so that no order is left with a
-- holder that is gone; { 'ok', 'removed' | 'unknown' }.
local function registry_remove(P, k, held_set, geo, id, seen)
  if redis.call('EXISTS', k) == 0 then return { 'ok', 'unknown' } end
  local n = redis.call('SCARD', k .. held_set)
  if n > 0 then return { 'busy', tostring(n) } end
  redis.call('DEL', k, k .. ':orders', k .. ':offers', k .. ':active', k .. ':stock')
  redis.call('ZREM', geo, id)
  if seen then redis.call('ZREM', seen, id) end
  return { 'ok', 'removed' }
end

register('courier_remove', { 'id:id' }, function(cx, A)
  return registry_remove(cx.p, cokey(cx.p, A[1]), ':orders', co_geo(cx.p), A[1], co_seen(cx.p))
end)

register('pharmacy_remove', { 'id:id' }, function(cx, A)
  return registry_remove(cx.p, phkey(cx.p, A[1]), ':active', ph_geo(cx.p), A[1])
end)
