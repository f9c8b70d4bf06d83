-- orders.lua: the order state machine of SPEC section 3, run inside Redis.
--
-- Every change to an order, a pharmacy's or a courier's holdings happens in
-- one of the operations below, atomically. Each state change appends the
-- event to the outbox stream in the same step (the relay publishes it to
-- order.events and patient.notify), so the state and its events can never
-- disagree, whichever process crashes when.
--
-- KEYS[1] is the region's anchor key (it carries the region's hash tag, so a
-- Redis Cluster sends the call to the slot that holds the whole region).
-- ARGV[1] = key prefix ("rxd:{region}:"), ARGV[2] = operation, then its
-- arguments. Replies are arrays whose first element is a status word.

local P = ARGV[1]
local OP = ARGV[2]
local A = {}
for i = 3, #ARGV do A[#A + 1] = ARGV[i] end

local t = redis.call('TIME')
local NOW = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)

-- Key names: a kind, ':', an id, and maybe ':' and a part. Ids of ours
-- hold no ':' (common/ids.h), so 'ph:<id>' can never be another
-- pharmacy's part, and the indexes live under 'idx:', a kind no id
-- reaches, so no id names them (a pharmacy called 'geo' is 'ph:geo').
local function okey(oid) return P .. 'ord:' .. oid end
local function phkey(ph) return P .. 'ph:' .. ph end
local function cokey(c) return P .. 'co:' .. c end
local PH_GEO = P .. 'idx:ph:geo'
local CO_GEO = P .. 'idx:co:geo'

-- The key id rule again, for the operations that create an id's keys: a
-- caller that skipped the check gets an error, not a phantom key.
local function key_id(s)
  if type(s) ~= 'string' or #s < 1 or #s > 64 or not s:match('^[%w%._%-]+$') then
    return redis.error_reply('ERR bad id: ids are 1-64 chars of [A-Za-z0-9._-]')
  end
  return nil
end

local PRE_PICKUP = { ROUTING = true, OFFERED = true, ACCEPTED = true, READY = true,
                     COURIER_ASSIGNED = true }

-- Appends one event of order oid (state after it, what happened, extras)
-- to the outbox and the order's timeline; a state change also tells the
-- patient. Returns the event's sequence number.
local function emit(oid, state, kind, reason, deadline)
  local k = okey(oid)
  local prev = redis.call('HGET', k, 'state')
  local seq = redis.call('HINCRBY', k, 'seq', 1)
  redis.call('HSET', k, 'state', state, 'updated_ms', NOW, 't_' .. state, NOW)
  if prev ~= state then
    if prev then redis.call('HINCRBY', P .. 'stats', prev, -1) end
    redis.call('HINCRBY', P .. 'stats', state, 1)
  end
  local o = redis.call('HMGET', k, 'rx', 'pharmacy', 'courier', 'dist_m', 'fulfilment',
    'cold', 'attempt', 'priority', 'patient', 'code')
  local ph = o[2] or ''
  local plat, plon = '', ''
  if ph ~= '' then
    local pp = redis.call('HMGET', phkey(ph), 'lat', 'lon')
    plat, plon = pp[1] or '', pp[2] or ''
  end
  redis.call('XADD', P .. 'outbox', '*', 't', 'ev', 'order_id', oid, 'rx', o[1] or '',
    'seq', seq, 'at', NOW, 'state', state, 'kind', kind, 'pharmacy', ph,
    'courier', o[3] or '', 'reason', reason or '', 'dist_m', o[4] or '0',
    'fulfilment', o[5] or '0', 'cold', o[6] or '0', 'attempt', o[7] or '0',
    'deadline', deadline or 0, 'plat', plat, 'plon', plon, 'priority', o[8] or '0')
  redis.call('RPUSH', k .. ':tl', cjson.encode({ seq = seq, at_ms = NOW, state = state,
    kind = kind, pharmacy = ph, courier = o[3] or '', reason = reason or '' }))
  if prev ~= state then
    local code = ''
    if state == 'ACCEPTED' then code = o[10] or '' end
    redis.call('XADD', P .. 'outbox', '*', 't', 'pn', 'order_id', oid, 'rx', o[1] or '',
      'state', state, 'patient', o[9] or '', 'code', code, 'at', NOW, 'reason', reason or '')
  end
  return seq
end

local function notify_pharmacy(ph, oid)
  if ph and ph ~= '' then redis.call('PUBLISH', P .. 'notify:ph:' .. ph, oid) end
end

local function notify_courier(c, oid)
  if c and c ~= '' then redis.call('PUBLISH', P .. 'notify:co:' .. c, oid) end
end

-- Lets go of everything the order holds at its pharmacy and courier.
local function release_pharmacy(oid, ph)
  if ph and ph ~= '' then
    redis.call('SREM', phkey(ph) .. ':offers', oid)
    redis.call('SREM', phkey(ph) .. ':active', oid)
    notify_pharmacy(ph, oid)
  end
end

local function release_courier(oid, c)
  if c and c ~= '' then
    redis.call('SREM', cokey(c) .. ':orders', oid)
    notify_courier(c, oid)
  end
  redis.call('ZREM', P .. 'cdue', oid)
end

-- The parcel leaves the pharmacy with courier c (its own pickup, or the
-- pharmacy's confirmation of the handover); from now on the courier sees
-- the address.
local function picked_up(oid, c, ph, reason)
  redis.call('HSET', okey(oid), 'c_accepted', 1)
  redis.call('HSET', cokey(c), 'misses', 0)
  redis.call('ZREM', P .. 'cdue', oid)
  redis.call('SREM', phkey(ph) .. ':active', oid)
  emit(oid, 'PICKED_UP', 'picked_up', reason)
  notify_courier(c, oid)
end

-- The state an action leaves the order in: the same action seen again in
-- that state is a retry (the reply was lost), answered as a success.
local PHARMACY_DONE = { accept = 'ACCEPTED', ready = 'READY', collected = 'COLLECTED',
                        returned = 'RETURNED' }
local COURIER_DONE = { accept = 'COURIER_ASSIGNED', pickup = 'PICKED_UP',
                       deliver = 'DELIVERED', fail = 'RETURNING' }

local ops = {}

-- create pid patient lat lon has_point address items_json nominated fulfilment
--        priority approved_ms hospital insurance expires_ms cold code
--        unroutable_reason lease_ms
ops.create = function()
  local pid = A[1]
  local existing = redis.call('GET', P .. 'rx:' .. pid)
  if existing then
    local s = redis.call('HMGET', okey(existing), 'state', 'attempt')
    return { 'exists', existing, s[1] or '', s[2] or '0' }
  end
  local n = redis.call('INCR', P .. 'seq:order')
  local oid = string.format('ord-%08d', n)
  local k = okey(oid)
  redis.call('SET', P .. 'rx:' .. pid, oid)
  redis.call('HSET', k, 'id', oid, 'rx', pid, 'patient', A[2], 'lat', A[3], 'lon', A[4],
    'has_point', A[5], 'address', A[6], 'items', A[7], 'nominated', A[8], 'fulfilment', A[9],
    'priority', A[10], 'approved_ms', A[11], 'hospital', A[12], 'insurance', A[13],
    'expires_ms', A[14], 'cold', A[15], 'code', A[16], 'attempt', 0, 'seq', 0,
    'created_ms', NOW, 'pharmacy', '', 'courier', '', 'dist_m', 0)
  redis.call('SADD', P .. 'orders', oid)
  emit(oid, 'ROUTING', 'created')
  if redis.call('EXISTS', P .. 'rxcancel:' .. pid) == 1 then
    local why = redis.call('GET', P .. 'rxcancel:' .. pid)
    emit(oid, 'CANCELLED', 'cancelled', why)
    return { 'created', oid, 'CANCELLED', '0' }
  end
  if A[17] ~= '' then
    emit(oid, 'UNROUTABLE', 'unroutable', A[17])
    return { 'created', oid, 'UNROUTABLE', '0' }
  end
  redis.call('ZADD', P .. 'due', NOW + tonumber(A[18]), oid)
  return { 'created', oid, 'ROUTING', '0' }
end

-- load oid: what the router needs to route an order
ops.load = function()
  local o = redis.call('HMGET', okey(A[1]), 'state', 'attempt', 'lat', 'lon', 'has_point',
    'items', 'nominated', 'fulfilment', 'insurance', 'cold', 'expires_ms', 'accept_by',
    'pharmacy')
  if not o[1] then return { 'not_found' } end
  local tried = redis.call('SMEMBERS', okey(A[1]) .. ':tried')
  return { 'ok', o[1], o[2], o[3], o[4], o[5], o[6], o[7], o[8], o[9], o[10], o[11],
           o[12] or '0', o[13] or '', cjson.encode(tried) }
end

-- offer oid expect_attempt pharmacy dist_m deadline_ms
ops.offer = function()
  local oid, ph = A[1], A[3]
  local k = okey(oid)
  local o = redis.call('HMGET', k, 'state', 'attempt')
  if o[1] ~= 'ROUTING' or o[2] ~= A[2] then return { 'stale', o[1] or '' } end
  if redis.call('SISMEMBER', k .. ':tried', ph) == 1 then return { 'tried' } end
  local p = redis.call('HMGET', phkey(ph), 'open', 'capacity')
  local load = redis.call('SCARD', phkey(ph) .. ':active')
  if p[1] ~= '1' or load >= tonumber(p[2] or '0') then return { 'busy' } end
  local attempt = redis.call('HINCRBY', k, 'attempt', 1)
  local by = NOW + tonumber(A[5])
  redis.call('HSET', k, 'pharmacy', ph, 'dist_m', A[4], 'accept_by', by)
  redis.call('SADD', k .. ':tried', ph)
  redis.call('SADD', phkey(ph) .. ':offers', oid)
  redis.call('SADD', phkey(ph) .. ':active', oid)
  redis.call('ZADD', P .. 'due', by, oid)
  emit(oid, 'OFFERED', 'offered', '', by)
  notify_pharmacy(ph, oid)
  return { 'offered', tostring(attempt), tostring(by) }
end

-- unroutable oid expect_attempt reason: expect_attempt '*' is any attempt
-- (a job that gave up before it could load the order)
ops.unroutable = function()
  local oid = A[1]
  local o = redis.call('HMGET', okey(oid), 'state', 'attempt')
  if o[1] ~= 'ROUTING' or (A[2] ~= '*' and o[2] ~= A[2]) then return { 'stale', o[1] or '' } end
  redis.call('ZREM', P .. 'due', oid)
  emit(oid, 'UNROUTABLE', 'unroutable', A[3])
  return { 'ok', 'UNROUTABLE' }
end

-- expire oid attempt: the accept deadline of offer number `attempt` passed
ops.expire = function()
  local oid = A[1]
  local k = okey(oid)
  local o = redis.call('HMGET', k, 'state', 'attempt', 'accept_by', 'pharmacy')
  if o[1] ~= 'OFFERED' or o[2] ~= A[2] or tonumber(o[3] or '0') > NOW then
    return { 'stale', o[1] or '' }
  end
  release_pharmacy(oid, o[4])
  redis.call('ZADD', P .. 'due', NOW, oid)
  emit(oid, 'ROUTING', 'offer_expired', 'accept_deadline_missed')
  redis.call('HSET', k, 'pharmacy', '', 'accept_by', 0)
  return { 'ok', 'ROUTING' }
end

-- claim zset limit lease_ms: takes due work items for lease_ms so that only
-- one instance works on each; a crashed instance's items come back later.
ops.claim = function()
  local z = P .. A[1]
  local ids = redis.call('ZRANGEBYSCORE', z, '-inf', NOW, 'LIMIT', 0, tonumber(A[2]))
  for _, id in ipairs(ids) do
    redis.call('ZADD', z, NOW + tonumber(A[3]), id)
  end
  return ids
end

-- park queue oid reason: a routing or dispatch job met a Redis error no
-- retry fixes for oid. The order leaves the work queue (so it stops coming
-- back every lease) and 'parked' says why, for the operator; the order
-- itself is not touched (its keys may be what is broken).
local PARK_QUEUES = { due = true, dispatch = true, cdue = true }
ops.park = function()
  if not PARK_QUEUES[A[1]] then return redis.error_reply('ERR park: unknown queue') end
  redis.call('ZREM', P .. A[1], A[2])
  redis.call('HSET', P .. 'parked', A[2], cjson.encode({ queue = A[1], reason = A[3], at_ms = NOW }))
  return { 'ok' }
end

-- pharmacy oid pharmacy action reason: accept|reject|ready|collected|returned
ops.pharmacy = function()
  local oid, ph, act = A[1], A[2], A[3]
  local k = okey(oid)
  local o = redis.call('HMGET', k, 'state', 'pharmacy', 'fulfilment', 'courier')
  if not o[1] then return { 'err', 'not_found', '' } end
  if o[2] ~= ph then
    -- a pharmacy that was offered this order before hears that it moved on
    if redis.call('SISMEMBER', k .. ':tried', ph) == 1 then return { 'err', 'conflict', o[1] } end
    return { 'err', 'forbidden', o[1] }
  end
  local st = o[1]
  -- a client that lost the reply and sends the same action again is told
  -- it succeeded, not that it conflicts
  if PHARMACY_DONE[act] == st then return { 'ok', st, 'replay' } end
  if act == 'collected' and o[3] == '0' and st == 'PICKED_UP' then
    return { 'ok', st, 'replay' }
  end
  if act == 'accept' and st == 'OFFERED' then
    redis.call('SREM', phkey(ph) .. ':offers', oid)
    redis.call('ZREM', P .. 'due', oid)
    emit(oid, 'ACCEPTED', 'accepted')
  elseif act == 'reject' and st == 'OFFERED' then
    release_pharmacy(oid, ph)
    redis.call('ZADD', P .. 'due', NOW, oid)
    emit(oid, 'ROUTING', 'rejected', A[4])
    redis.call('HSET', k, 'pharmacy', '', 'accept_by', 0)
  elseif act == 'ready' and st == 'ACCEPTED' then
    if o[3] == '0' then redis.call('ZADD', P .. 'dispatch', NOW, oid) end
    emit(oid, 'READY', 'ready')
  elseif act == 'collected' and st == 'READY' and o[3] == '1' then
    release_pharmacy(oid, ph)
    emit(oid, 'COLLECTED', 'collected')
  elseif act == 'collected' and st == 'COURIER_ASSIGNED' and o[3] == '0' then
    -- a delivery order handed to its courier: the pharmacy's confirmation
    -- is the pickup (the proof of presence that needs no position)
    picked_up(oid, o[4], ph, 'pharmacy_confirmed')
  elseif act == 'returned' and st == 'RETURNING' then
    release_courier(oid, o[4])
    emit(oid, 'RETURNED', 'returned')
  else
    return { 'err', 'conflict', st }
  end
  return { 'ok', redis.call('HGET', k, 'state') }
end

-- cancel by(order|rx) id reason
ops.cancel = function()
  local oid = A[2]
  if A[1] == 'rx' then
    oid = redis.call('GET', P .. 'rx:' .. A[2])
    if not oid then
      redis.call('SET', P .. 'rxcancel:' .. A[2], A[3], 'EX', 30 * 86400)
      return { 'ok', 'tombstone' }
    end
  end
  local k = okey(oid)
  local o = redis.call('HMGET', k, 'state', 'pharmacy', 'courier')
  if not o[1] then return { 'err', 'not_found', '' } end
  if o[1] == 'CANCELLED' then return { 'ok', 'CANCELLED', oid } end
  if not PRE_PICKUP[o[1]] then return { 'err', 'conflict', o[1] } end
  release_pharmacy(oid, o[2])
  release_courier(oid, o[3])
  redis.call('ZREM', P .. 'due', oid)
  redis.call('ZREM', P .. 'dispatch', oid)
  emit(oid, 'CANCELLED', 'cancelled', A[3])
  return { 'ok', 'CANCELLED', oid }
end

-- offers pharmacy: JSON list of the orders waiting for its answer
ops.offers = function()
  local ph = A[1]
  local ids = redis.call('SMEMBERS', phkey(ph) .. ':offers')
  local out = {}
  for _, oid in ipairs(ids) do
    local o = redis.call('HMGET', okey(oid), 'state', 'pharmacy', 'items', 'fulfilment',
      'accept_by', 'dist_m', 'priority', 'cold')
    if o[1] == 'OFFERED' and o[2] == ph then
      out[#out + 1] = { order_id = oid, items = cjson.decode(o[3]),
        fulfilment = (o[4] == '1') and 'PICKUP_IN_STORE' or 'HOME_DELIVERY',
        accept_by = tonumber(o[5]), distance_m = tonumber(o[6]),
        priority = (o[7] == '1') and 'URGENT' or 'NORMAL', cold_chain = o[8] == '1' }
    end
  end
  if #out == 0 then return { 'ok', '[]' } end
  table.sort(out, function(a, b) return a.accept_by < b.accept_by end)
  return { 'ok', cjson.encode(out) }
end

-- get oid: the operator's view (state, holders, timeline)
ops.get = function()
  local k = okey(A[1])
  if redis.call('EXISTS', k) == 0 then return { 'err', 'not_found', '' } end
  local h = redis.call('HGETALL', k)
  local tl = redis.call('LRANGE', k .. ':tl', 0, -1)
  local o = {}
  for i = 1, #h, 2 do o[h[i]] = h[i + 1] end
  local view = { order_id = A[1], prescription_id = o.rx, state = o.state,
    pharmacy_id = o.pharmacy, courier_id = o.courier, attempt = tonumber(o.attempt),
    seq = tonumber(o.seq), created_ms = tonumber(o.created_ms),
    fulfilment = (o.fulfilment == '1') and 'PICKUP_IN_STORE' or 'HOME_DELIVERY',
    distance_m = tonumber(o.dist_m), timeline = {} }
  for i, e in ipairs(tl) do view.timeline[i] = cjson.decode(e) end
  return { 'ok', cjson.encode(view) }
end

-- pharmacy_put id name lat lon open capacity cold insurance
ops.pharmacy_put = function()
  local bad = key_id(A[1])
  if bad then return bad end
  local k = phkey(A[1])
  redis.call('HSET', k, 'id', A[1], 'name', A[2], 'lat', A[3], 'lon', A[4], 'open', A[5],
    'capacity', A[6], 'cold', A[7], 'insurance', A[8], 'updated_ms', NOW)
  redis.call('GEOADD', PH_GEO, A[4], A[3], A[1])
  return { 'ok' }
end

-- pharmacy_status id open
ops.pharmacy_status = function()
  local k = phkey(A[1])
  if redis.call('EXISTS', k) == 0 then return { 'err', 'not_found', '' } end
  redis.call('HSET', k, 'open', A[2], 'updated_ms', NOW)
  return { 'ok' }
end

-- pharmacy_stock id code qty code qty ...: replaces the whole stock list
ops.pharmacy_stock = function()
  local k = phkey(A[1])
  if redis.call('EXISTS', k) == 0 then return { 'err', 'not_found', '' } end
  redis.call('DEL', k .. ':stock')
  if #A > 1 then redis.call('HSET', k .. ':stock', unpack(A, 2)) end
  redis.call('HSET', k, 'stock_known', 1, 'updated_ms', NOW)
  return { 'ok', tostring((#A - 1) / 2) }
end

-- pharmacy_stock_all id items_json: pharmacy_stock for a whole catalogue in
-- one atomic call ({"<code>": qty, ...}, up to the API's 2000 items), which
-- the argument-per-item form cannot carry; HSET in slices so that unpack
-- stays far below Lua's stack limit
ops.pharmacy_stock_all = function()
  local k = phkey(A[1])
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
  return { 'ok', tostring(n) }
end

-- ---- couriers (dispatch) ----

-- Positions dated further ahead than this are not taken as fresh (a clock
-- set wrong, or a position dated in 2100 to stay 'fresh' for ever).
local FUTURE_SKEW_MS = 60000

-- Stores one position of courier c unless it is not newer than the stored
-- one (buffered batches and retries arrive late or twice). 1 when stored.
-- Judged against the server's clock too: a point dated beyond the skew is
-- never stored, and a stored one dated beyond it (kept from before the
-- gateways refused them) gives way to any real point instead of blocking
-- the courier's positions until its date.
local function courier_put_point(c, lat, lon, ts)
  local k = cokey(c)
  local t = tonumber(ts)
  if not t or t > NOW + FUTURE_SKEW_MS then return 0 end
  local last = tonumber(redis.call('HGET', k, 'ts_ms') or '-1') or -1
  if last > NOW + FUTURE_SKEW_MS then last = -1 end
  if t <= last then return 0 end
  redis.call('HSET', k, 'id', c, 'lat', lat, 'lon', lon, 'ts_ms', ts)
  redis.call('GEOADD', CO_GEO, lon, lat, c)
  return 1
end

-- courier_loc id lat lon ts_ms: older points than the stored one are ignored
ops.courier_loc = function()
  if courier_put_point(A[1], A[2], A[3], A[4]) == 1 then return { 'ok', 'stored' } end
  return { 'ok', 'stale' }
end

-- courier_loc_many id lat lon ts_ms [id lat lon ts_ms ...]: courier_loc for
-- the positions courier-gw received together, in arrival order; one status
-- ('stored' or 'stale') per position
ops.courier_loc_many = function()
  local out = { 'ok' }
  for i = 1, #A - 3, 4 do
    out[#out + 1] = courier_put_point(A[i], A[i + 1], A[i + 2], A[i + 3]) == 1 and 'stored'
      or 'stale'
  end
  return out
end

-- courier_locs id points_json: [["lat","lon","ts_ms"], ...] in the order the
-- app buffered them; replies how many were stored (newer than the last one)
ops.courier_locs = function()
  local n = 0
  for _, p in ipairs(cjson.decode(A[2])) do
    n = n + courier_put_point(A[1], p[1], p[2], p[3])
  end
  return { 'ok', tostring(n) }
end

-- courier_avail id available cold capacity: setting itself available again
-- also forgives the misses that took it off
ops.courier_avail = function()
  local bad = key_id(A[1])
  if bad then return bad end
  local k = cokey(A[1])
  redis.call('HSET', k, 'id', A[1], 'available', A[2], 'cold', A[3], 'capacity', A[4])
  if A[2] == '1' then redis.call('HSET', k, 'misses', 0) end
  return { 'ok' }
end

-- dispatch_load oid: what the dispatcher needs to place an order (its
-- pharmacy's position, cold chain, priority, when it became ready, the
-- couriers that declined or missed it). An order that is not waiting for a
-- courier leaves the dispatch queue here, so a stray entry cannot loop.
ops.dispatch_load = function()
  local oid = A[1]
  local k = okey(oid)
  local o = redis.call('HMGET', k, 'state', 'courier', 'fulfilment', 'pharmacy', 'cold',
    'priority', 't_READY')
  if o[1] ~= 'READY' or (o[2] or '') ~= '' or o[3] ~= '0' then
    redis.call('ZREM', P .. 'dispatch', oid)
    return { 'skip', o[1] or '' }
  end
  local p = redis.call('HMGET', phkey(o[4]), 'lat', 'lon')
  local tried = redis.call('SMEMBERS', k .. ':ctried')
  return { 'ok', o[4], p[1] or '', p[2] or '', o[5] or '0', o[6] or '0', o[7] or '0',
           cjson.encode(tried) }
end

-- assign oid courier deadline_ms min_ts_ms dist_m: atomic check of the
-- courier's freshness, availability, cold box and capacity, so that several
-- dispatchers never give a courier more than its capacity
ops.assign = function()
  local oid, c = A[1], A[2]
  local k = okey(oid)
  local o = redis.call('HMGET', k, 'state', 'courier', 'cold', 'fulfilment')
  if o[1] ~= 'READY' or (o[2] or '') ~= '' or o[4] ~= '0' then return { 'stale', o[1] or '' } end
  if redis.call('SISMEMBER', k .. ':ctried', c) == 1 then return { 'busy', 'tried' } end
  local q = redis.call('HMGET', cokey(c), 'available', 'cold', 'capacity', 'ts_ms')
  local load = redis.call('SCARD', cokey(c) .. ':orders')
  if q[1] ~= '1' then return { 'busy', 'unavailable' } end
  if o[3] == '1' and q[2] ~= '1' then return { 'busy', 'no_cold_box' } end
  if load >= tonumber(q[3] or '0') then return { 'busy', 'at_capacity' } end
  if tonumber(q[4] or '0') < tonumber(A[4]) then return { 'busy', 'stale_position' } end
  local by = NOW + tonumber(A[3])
  redis.call('SADD', cokey(c) .. ':orders', oid)
  redis.call('HSET', k, 'courier', c, 'assign_by', by, 'c_accepted', 0, 'c_dist_m', A[5])
  redis.call('SADD', k .. ':ctried', c)
  redis.call('ZREM', P .. 'dispatch', oid)
  redis.call('ZADD', P .. 'cdue', by, oid)
  emit(oid, 'COURIER_ASSIGNED', 'courier_assigned', '', by)
  notify_courier(c, oid)
  return { 'assigned', tostring(by) }
end

-- Gives an assigned order back to the dispatch queue (decline or a missed
-- deadline). The event still names the courier that let it go.
local function courier_give_back(oid, c, kind, reason)
  release_courier(oid, c)
  redis.call('ZADD', P .. 'dispatch', NOW, oid)
  emit(oid, 'READY', kind, reason)
  redis.call('HSET', okey(oid), 'courier', '', 'assign_by', 0, 'c_accepted', 0)
end

-- Metres between two points on the sphere, as common/geo.c computes them.
local function distance_m(lat1, lon1, lat2, lon2)
  local r = math.pi / 180
  local dlat, dlon = (lat2 - lat1) * r, (lon2 - lon1) * r
  local a = math.sin(dlat / 2) ^ 2 + math.cos(lat1 * r) * math.cos(lat2 * r) * math.sin(dlon / 2) ^ 2
  return 2 * 6372797.560856 * math.asin(math.min(1, math.sqrt(a)))
end

-- Why courier c may not declare the pickup of an order at pharmacy ph, or
-- nil when it may: its last position must be fresher than max_age_ms and
-- within radius_m of the pharmacy (proof 'position'); with proof
-- 'handover' only the pharmacy's confirmation (its 'collected') counts.
-- Returns the refusal word, the distance and the age ('-1' when unknown).
local function pickup_refusal(c, ph, radius_m, max_age_ms, proof)
  if proof == 'handover' then return 'handover_required', '-1', '-1' end
  local q = redis.call('HMGET', cokey(c), 'lat', 'lon', 'ts_ms')
  local p = redis.call('HMGET', phkey(ph), 'lat', 'lon')
  if not (q[1] and q[3] and p[1]) then return 'not_at_pharmacy', '-1', '-1' end
  local age = NOW - tonumber(q[3])
  local d = distance_m(tonumber(q[1]), tonumber(q[2]), tonumber(p[1]), tonumber(p[2]))
  local dist, ages = tostring(math.floor(d + 0.5)), tostring(age)
  if age > max_age_ms or age < -FUTURE_SKEW_MS or d > radius_m then
    return 'not_at_pharmacy', dist, ages
  end
  return nil, dist, ages
end

-- courier oid courier action arg max_wrong_codes [radius_m max_age_ms proof]:
-- accept|decline|pickup|deliver|fail. A refused pickup replies
-- { 'refused', why, distance_m, age_ms }.
ops.courier = function()
  local oid, c, act = A[1], A[2], A[3]
  local k = okey(oid)
  local o = redis.call('HMGET', k, 'state', 'courier', 'c_accepted', 'code', 'wrong_codes',
    'pharmacy')
  if not o[1] then return { 'err', 'not_found', '' } end
  if o[2] ~= c then return { 'err', 'forbidden', o[1] } end
  local st = o[1]
  if COURIER_DONE[act] == st and (act ~= 'accept' or o[3] == '1') then
    return { 'ok', st, 'replay' }
  end
  if act == 'accept' and st == 'COURIER_ASSIGNED' and o[3] ~= '1' then
    redis.call('HSET', k, 'c_accepted', 1)
    redis.call('HSET', cokey(c), 'misses', 0)
    redis.call('ZREM', P .. 'cdue', oid)
    emit(oid, 'COURIER_ASSIGNED', 'courier_accepted')
    notify_courier(c, oid)
  elseif act == 'decline' and st == 'COURIER_ASSIGNED' and o[3] ~= '1' then
    -- an answer, not a miss: the row of misses is broken
    redis.call('HSET', cokey(c), 'misses', 0)
    courier_give_back(oid, c, 'courier_declined', A[4])
  elseif act == 'pickup' and st == 'COURIER_ASSIGNED' then
    -- the courier's word alone is not enough: it must be at the pharmacy
    local why, dist, age = pickup_refusal(c, o[6], tonumber(A[6] or '300'),
      tonumber(A[7] or '120000'), A[8] or 'position')
    if why then return { 'refused', why, dist, age } end
    -- picking up implies accepting
    picked_up(oid, c, o[6], '')
  elseif act == 'deliver' and st == 'PICKED_UP' then
    local wrong = tonumber(o[5] or '0')
    if wrong >= tonumber(A[5]) then return { 'err', 'locked', st } end
    if A[4] ~= o[4] then
      wrong = redis.call('HINCRBY', k, 'wrong_codes', 1)
      return { 'err', 'wrong_code', tostring(tonumber(A[5]) - wrong) }
    end
    redis.call('SREM', cokey(c) .. ':orders', oid)
    emit(oid, 'DELIVERED', 'delivered')
    notify_courier(c, oid)
  elseif act == 'fail' and st == 'PICKED_UP' then
    emit(oid, 'RETURNING', 'delivery_failed', A[4])
    notify_pharmacy(o[6], oid)
    notify_courier(c, oid)
  else
    return { 'err', 'conflict', st }
  end
  return { 'ok', redis.call('HGET', k, 'state') }
end

-- courier_expire oid courier max_misses: the courier let the offer lapse.
-- A cdue entry that no longer stands for a lapsed offer is put right: gone
-- when the order moved on, back at its real deadline otherwise.
ops.courier_expire = function()
  local oid, c = A[1], A[2]
  local k = okey(oid)
  local o = redis.call('HMGET', k, 'state', 'courier', 'c_accepted', 'assign_by')
  if o[1] ~= 'COURIER_ASSIGNED' or o[3] == '1' then
    redis.call('ZREM', P .. 'cdue', oid)
    return { 'stale', o[1] or '' }
  end
  if o[2] ~= c or tonumber(o[4] or '0') > NOW then
    redis.call('ZADD', P .. 'cdue', tonumber(o[4] or '0'), oid)
    return { 'stale', o[1] }
  end
  courier_give_back(oid, c, 'courier_timeout', 'assignment_deadline_missed')
  local misses = redis.call('HINCRBY', cokey(c), 'misses', 1)
  if misses >= tonumber(A[3]) then
    redis.call('HSET', cokey(c), 'available', 0)
    return { 'ok', 'unavailable', tostring(misses) }
  end
  return { 'ok', 'available', tostring(misses) }
end

-- assignments courier: JSON list of the courier's orders; the address only
-- once picked up; never drug names or the patient
ops.assignments = function()
  local c = A[1]
  local ids = redis.call('SMEMBERS', cokey(c) .. ':orders')
  local out = {}
  for _, oid in ipairs(ids) do
    local o = redis.call('HMGET', okey(oid), 'state', 'courier', 'pharmacy', 'lat', 'lon',
      'address', 'assign_by', 'c_accepted', 'cold', 'c_dist_m')
    if o[2] == c then
      local p = redis.call('HMGET', phkey(o[3]), 'lat', 'lon', 'name')
      local a = { order_id = oid, state = o[1], pharmacy_id = o[3],
        pharmacy = { lat = tonumber(p[1]), lon = tonumber(p[2]), name = p[3] or '' },
        dropoff = { lat = tonumber(o[4]), lon = tonumber(o[5]) },
        accepted = o[8] == '1', cold_chain = o[9] == '1' }
      if o[1] == 'COURIER_ASSIGNED' and o[8] ~= '1' then a.accept_by = tonumber(o[7]) end
      if o[1] == 'PICKED_UP' or o[1] == 'RETURNING' then a.address = o[6] end
      out[#out + 1] = a
    end
  end
  if #out == 0 then return { 'ok', '[]' } end
  table.sort(out, function(x, y) return x.order_id < y.order_id end)
  return { 'ok', cjson.encode(out) }
end

local f = ops[OP]
if not f then return redis.error_reply('ERR unknown orders operation ' .. tostring(OP)) end
return f()
