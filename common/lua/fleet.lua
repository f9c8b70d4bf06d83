-- fleet.lua: the operator's levers on the fleet and on intake (part of the
-- rxd_orders library, see lib_head.lua): retry a held or parked order,
-- bench and unbench a courier, open and close a pharmacy, pause and resume
-- intake in a zone. Each one sets cx.actor, acts, announces itself (an
-- order event, or emit_subject for a courier, pharmacy or zone) and writes
-- its audit entry, all in the same atomic step.

-- retry oid actor reason: a held order (transitions.lua, the hold) or a
-- parked one (queues.lua, park) goes back to its work queue now.
-- { 'ok', state, 'held' | 'parked' }; err not_found, or conflict when it
-- is neither.
register('retry', { 'oid:id', 'actor:ref', 'reason:str' }, function(cx, A)
  local P, NOW = cx.p, cx.now
  local oid = A[1]
  cx.actor = A[2]
  local o = redis.call('HMGET', okey(P, oid), 'state', 'held')
  local parked = redis.call('HGET', P .. 'parked', oid)
  if not o[1] and not parked then return { 'err', 'not_found', '' } end
  if o[1] == 'ROUTING' and o[2] then
    hold_clear(P, oid)
    redis.call('ZADD', P .. 'due', NOW, oid)
    emit(cx, oid, 'ROUTING', 'op_retry', A[3])
    audit(cx, 'retry', 'order:' .. oid, A[3], 'held: ' .. o[2])
    return { 'ok', 'ROUTING', 'held' }
  end
  if not parked then return { 'err', 'conflict', o[1] or '' } end
  local q = cjson.decode(parked).queue
  redis.call('HDEL', P .. 'parked', oid)
  redis.call('ZADD', P .. q, NOW, oid)
  if o[1] then emit(cx, oid, o[1], 'op_retry', A[3]) end
  audit(cx, 'retry', 'order:' .. oid, A[3], 'parked: ' .. q)
  return { 'ok', o[1] or '', 'parked' }
end)

-- courier_bench id actor reason / courier_unbench id actor reason: a
-- benched courier gets no new assignments (assign refuses it, the
-- dispatcher's search skips it); what it holds stays with it.
-- { 'ok', 'benched' | 'unbenched' }; err not_found.
local function courier_bench_set(cx, A, on)
  local P, NOW = cx.p, cx.now
  local k = cokey(P, A[1])
  cx.actor = A[2]
  if redis.call('EXISTS', k) == 0 then return { 'err', 'not_found', '' } end
  if on then
    redis.call('HSET', k, 'benched', 1, 'benched_ms', NOW, 'benched_why', A[3])
  else
    redis.call('HDEL', k, 'benched', 'benched_ms', 'benched_why')
  end
  local word = on and 'benched' or 'unbenched'
  emit_subject(cx, 'courier', A[1], 'op_' .. word, A[3])
  audit(cx, on and 'courier_bench' or 'courier_unbench', 'courier:' .. A[1], A[3], '')
  return { 'ok', word }
end

register('courier_bench', { 'id:id', 'actor:ref', 'reason:str' }, function(cx, A)
  return courier_bench_set(cx, A, true)
end)

register('courier_unbench', { 'id:id', 'actor:ref', 'reason:str' }, function(cx, A)
  return courier_bench_set(cx, A, false)
end)

-- pharmacy_open id actor reason open: the operator opens (1) or closes (0)
-- a pharmacy. Closing lets go of nothing it holds, it only gets no new
-- offers; opening releases the held orders around it, as pharmacy_status.
-- { 'ok', how many held orders went back to routing }; err not_found.
register('pharmacy_open', { 'id:id', 'actor:ref', 'reason:str', 'open:int' }, function(cx, A)
  local P, NOW = cx.p, cx.now
  local k = phkey(P, A[1])
  cx.actor = A[2]
  if redis.call('EXISTS', k) == 0 then return { 'err', 'not_found', '' } end
  local open = A[4] ~= '0'
  redis.call('HSET', k, 'open', open and 1 or 0, 'updated_ms', NOW)
  local n = open and hold_release_near(cx, A[1], 'pharmacy_opened') or 0
  emit_subject(cx, 'pharmacy', A[1], open and 'op_opened' or 'op_closed', A[3])
  audit(cx, open and 'pharmacy_open' or 'pharmacy_close', 'pharmacy:' .. A[1], A[3], 'released ' .. n)
  return { 'ok', tostring(n) }
end)

-- Zones whose resume is still releasing held orders (hold_tick drains them).
local function zones_draining(P) return P .. 'zones:draining' end

-- Releases up to HOLD_BATCH_MAX orders held by zone z; how many went.
local function zone_release(cx, z)
  local P = cx.p
  local n = 0
  for _, oid in ipairs(redis.call('SRANDMEMBER', hold_zone(P, z), HOLD_BATCH_MAX)) do
    n = n + hold_release(cx, oid, 'hold_released', 'zone_resumed')
  end
  if redis.call('SCARD', hold_zone(P, z)) == 0 then redis.call('SREM', zones_draining(P), z) end
  return n
end

-- Reads a zone's shape from its kind and 3 (circle: lat lon radius_m) or 4
-- (box: min_lat min_lon max_lat max_lon) numbers; nil and why when wrong.
local ZONE_SHAPES = {
  circle = { 'lat', 'lon', 'radius_m' },
  box = { 'min_lat', 'min_lon', 'max_lat', 'max_lon' },
}
local function zone_parse(kind, nums)
  local names = ZONE_SHAPES[kind]
  if not names then return nil, "kind must be 'circle' or 'box'" end
  if #nums ~= #names then
    return nil, kind .. ' takes ' .. #names .. ' numbers (' .. table.concat(names, ' ') .. ')'
  end
  local z = { kind = kind }
  for i, n in ipairs(names) do z[n] = tonumber(nums[i]) end
  if kind == 'circle' and z.radius_m <= 0 then return nil, 'radius_m must be above 0' end
  if kind == 'box' and (z.min_lat > z.max_lat or z.min_lon > z.max_lon) then
    return nil, 'a box needs min_lat <= max_lat and min_lon <= max_lon'
  end
  return z
end

-- zone_pause zone kind actor reason n1 n2 n3 [n4]: intake of a prescription
-- whose delivery point is in the zone is held ('zone_paused') instead of
-- routed, until zone_resume. Pausing a paused zone replaces its shape.
-- { 'ok', 'paused' }; a Redis error for a wrong shape.
register('zone_pause', { 'zone:id', 'kind:str', 'actor:ref', 'reason:str', 'n1:num', 'n2:num',
  'n3:num', 'n4:num?' }, function(cx, A)
  local P, NOW = cx.p, cx.now
  cx.actor = A[3]
  local z, why = zone_parse(A[2], { A[5], A[6], A[7], A[8] })
  if not z then return redis.error_reply('ERR rxd_zone_pause: ' .. why) end
  z.id, z.reason, z.actor, z.at_ms = A[1], A[4], A[3], NOW
  redis.call('HSET', zones_key(P), A[1], cjson.encode(z))
  redis.call('SREM', zones_draining(P), A[1])
  emit_subject(cx, 'zone', A[1], 'op_paused', A[4])
  audit(cx, 'zone_pause', 'zone:' .. A[1], A[4], cjson.encode(z))
  return { 'ok', 'paused' }
end)

-- zone_resume zone actor reason: intake in the zone routes again, and the
-- orders the pause held go back to routing (HOLD_BATCH_MAX now, the rest
-- by the router's hold_tick). { 'ok', how many went now }; err not_found.
register('zone_resume', { 'zone:id', 'actor:ref', 'reason:str' }, function(cx, A)
  local P = cx.p
  cx.actor = A[2]
  if redis.call('HDEL', zones_key(P), A[1]) == 0 then return { 'err', 'not_found', '' } end
  redis.call('SADD', zones_draining(P), A[1])
  local n = zone_release(cx, A[1])
  emit_subject(cx, 'zone', A[1], 'op_resumed', A[3])
  audit(cx, 'zone_resume', 'zone:' .. A[1], A[3], 'released ' .. n)
  return { 'ok', tostring(n) }
end)

-- zones: the paused zones, each with the orders it holds:
-- { 'ok', json [{id, kind, <shape>, reason, actor, at_ms, held}] }
register('zones', {}, function(cx, A)
  local P = cx.p
  local h = redis.call('HGETALL', zones_key(P))
  local out = {}
  for i = 1, #h, 2 do
    local z = cjson.decode(h[i + 1])
    z.held = redis.call('SCARD', hold_zone(P, h[i]))
    out[#out + 1] = z
  end
  return { 'ok', #out == 0 and '[]' or cjson.encode(out) }
end)

-- hold_tick max_hold_ms radius_m limit: the router's tick. Stores the
-- hold's settings (the maximum hold of a prescription without an expiry,
-- the largest routing radius: read by the steps that hold and release),
-- then ends the held orders whose hold has run out (UNROUTABLE 'expired')
-- and goes on releasing the orders of resumed zones.
-- { 'ok', how many ended, how many released }
register('hold_tick', { 'max_hold_ms:int', 'radius_m:num', 'limit:int' }, function(cx, A)
  local P, NOW = cx.p, cx.now
  redis.call('HSET', hold_cfg(P), 'max_ms', A[1], 'radius_m', A[2])
  local ids = redis.call('ZRANGEBYSCORE', hold_key(P), '-inf', NOW, 'LIMIT', 0,
    math.min(tonumber(A[3]), HOLD_BATCH_MAX))
  local n = 0
  for _, oid in ipairs(ids) do
    local o = redis.call('HMGET', okey(P, oid), 'state', 'held')
    hold_clear(P, oid)
    if o[1] == 'ROUTING' and o[2] then
      emit(cx, oid, 'UNROUTABLE', 'unroutable', 'expired')
      n = n + 1
    end
  end
  local released = 0
  for _, z in ipairs(redis.call('SMEMBERS', zones_draining(P))) do
    released = released + zone_release(cx, z)
  end
  return { 'ok', tostring(n), tostring(released) }
end)
