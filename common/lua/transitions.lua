-- transitions.lua: the order's state changes (part of the rxd_orders
-- library, see lib_head.lua): creation, the pharmacy offer and its answers,
-- cancellation, courier assignment and the courier's actions. Each one
-- checks the state it starts from and emits its event.

local PRE_PICKUP = { ROUTING = true, OFFERED = true, ACCEPTED = true, READY = true,
                     COURIER_ASSIGNED = true }

-- ---- the hold (docs/architecture.md, "The hold for UNROUTABLE") ----
-- An order that cannot be routed for a reason that may pass (nothing open
-- or in stock in range, its zone paused) waits in ROUTING with 'held' set,
-- in the zset 'hold' scored by when it gives up (the prescription's expiry,
-- else now + the maximum hold). Held orders with a point are in the geo
-- index idx:hold:geo (a pharmacy that opens or restocks releases those
-- around it), those nominating a pharmacy in idx:hold:nom:<ph>, those held
-- by a paused zone only in idx:hold:zone:<zone> (its resume releases them).
local function hold_key(P) return P .. 'hold' end
local function hold_geo(P) return P .. 'idx:hold:geo' end
local function hold_nom(P, ph) return P .. 'idx:hold:nom:' .. ph end
local function hold_zone(P, z) return P .. 'idx:hold:zone:' .. z end
local function hold_cfg(P) return P .. 'cfg:hold' end
local function zones_key(P) return P .. 'zones' end
local HOLD_DEFAULTS = { max_ms = 24 * 3600 * 1000, radius_m = 10000 }
-- Orders released or ended per call: the rest by the next change or tick.
local HOLD_BATCH_MAX = 100

-- The hold's settings as the router's tick last stored them (hold_tick).
local function hold_settings(P)
  local c = redis.call('HMGET', hold_cfg(P), 'max_ms', 'radius_m')
  return tonumber(c[1] or '') or HOLD_DEFAULTS.max_ms, tonumber(c[2] or '') or HOLD_DEFAULTS.radius_m
end

-- Takes oid out of the hold and its indexes (whatever state it is in).
local function hold_clear(P, oid)
  local k = okey(P, oid)
  local o = redis.call('HMGET', k, 'held_zone', 'nominated')
  redis.call('ZREM', hold_key(P), oid)
  redis.call('ZREM', hold_geo(P), oid)
  if o[1] and o[1] ~= '' then redis.call('SREM', hold_zone(P, o[1]), oid) end
  if o[2] and o[2] ~= '' then redis.call('SREM', hold_nom(P, o[2]), oid) end
  redis.call('HDEL', k, 'held', 'held_ms', 'held_zone')
end

-- Puts ROUTING order oid on hold for reason (zone: the paused zone that
-- holds it) and announces it.
local function hold_put(cx, oid, reason, zone)
  local P, NOW = cx.p, cx.now
  local k = okey(P, oid)
  local o = redis.call('HMGET', k, 'lat', 'lon', 'has_point', 'nominated', 'expires_ms')
  local max_ms = hold_settings(P)
  local expires = tonumber(o[5] or '0') or 0
  local until_ms = expires > 0 and expires or NOW + max_ms
  hold_clear(P, oid)
  redis.call('ZREM', P .. 'due', oid)
  redis.call('ZADD', hold_key(P), until_ms, oid)
  redis.call('HSET', k, 'held', reason, 'held_ms', NOW)
  if zone then
    redis.call('HSET', k, 'held_zone', zone)
    redis.call('SADD', hold_zone(P, zone), oid)
  else
    if o[3] == '1' then redis.call('GEOADD', hold_geo(P), o[2], o[1], oid) end
    if o[4] and o[4] ~= '' then redis.call('SADD', hold_nom(P, o[4]), oid) end
  end
  emit(cx, oid, 'ROUTING', 'held', reason, until_ms)
end

-- Sends held order oid back to routing now (kind: the event's kind). 1 when
-- it was held; a stale index entry (the order moved on) is only cleared.
local function hold_release(cx, oid, kind, reason)
  local P, NOW = cx.p, cx.now
  local o = redis.call('HMGET', okey(P, oid), 'state', 'held')
  hold_clear(P, oid)
  if o[1] ~= 'ROUTING' or not o[2] then return 0 end
  redis.call('ZADD', P .. 'due', NOW, oid)
  emit(cx, oid, 'ROUTING', kind, reason)
  return 1
end

-- Metres between two points on the sphere, as common/geo.c computes them.
local function distance_m(lat1, lon1, lat2, lon2)
  local r = math.pi / 180
  local dlat, dlon = (lat2 - lat1) * r, (lon2 - lon1) * r
  local a = math.sin(dlat / 2) ^ 2 + math.cos(lat1 * r) * math.cos(lat2 * r) * math.sin(dlon / 2) ^ 2
  return 2 * 6372797.560856 * math.asin(math.min(1, math.sqrt(a)))
end

-- Whether a point lies in zone z (fleet.lua's zone_pause stores them):
-- a circle {lat, lon, radius_m} or a box {min_lat, min_lon, max_lat, max_lon}.
local function zone_contains(z, lat, lon)
  if z.kind == 'circle' then return distance_m(z.lat, z.lon, lat, lon) <= z.radius_m end
  return lat >= z.min_lat and lat <= z.max_lat and lon >= z.min_lon and lon <= z.max_lon
end

-- The paused zone a point lies in, or nil (few zones: read them all).
local function zone_paused_at(P, lat, lon)
  local h = redis.call('HGETALL', zones_key(P))
  for i = 1, #h, 2 do
    if zone_contains(cjson.decode(h[i + 1]), lat, lon) then return h[i] end
  end
  return nil
end

-- The parcel leaves the pharmacy with courier c (its own pickup, or the
-- pharmacy's confirmation of the handover); from now on the courier sees
-- the address.
local function picked_up(cx, oid, c, ph, reason)
  local P, NOW = cx.p, cx.now
  redis.call('HSET', okey(P, oid), 'c_accepted', 1)
  redis.call('HSET', cokey(P, c), 'misses', 0)
  redis.call('ZREM', P .. 'cdue', oid)
  redis.call('SREM', phkey(P, ph) .. ':active', oid)
  emit(cx, oid, 'PICKED_UP', 'picked_up', reason)
  notify_courier(P, c, oid)
end

-- The state an action leaves the order in: the same action seen again in
-- that state is a retry (the reply was lost), answered as a success.
local PHARMACY_DONE = { accept = 'ACCEPTED', ready = 'READY', collected = 'COLLECTED',
                        returned = 'RETURNED' }
local COURIER_DONE = { accept = 'COURIER_ASSIGNED', pickup = 'PICKED_UP',
                       deliver = 'DELIVERED', fail = 'RETURNING' }

-- create pid patient lat lon has_point address items_json nominated fulfilment
--        priority approved_ms hospital insurance expires_ms cold code
--        unroutable_reason lease_ms
register('create', { 'pid:ref', 'patient:str', 'lat:num', 'lon:num', 'has_point:int', 'address:str',
  'items_json:str', 'nominated:str', 'fulfilment:int', 'priority:int', 'approved_ms:int',
  'hospital:str', 'insurance:int', 'expires_ms:int', 'cold:int', 'code:str',
  'unroutable_reason:str', 'lease_ms:int' }, function(cx, A)
  local P, NOW = cx.p, cx.now
  local pid = A[1]
  local existing = redis.call('GET', P .. 'rx:' .. pid)
  if existing then
    local s = redis.call('HMGET', okey(P, existing), 'state', 'attempt')
    return { 'exists', existing, s[1] or '', s[2] or '0' }
  end
  local oid = order_id_new(cx)
  local k = okey(P, oid)
  -- the dedupe key outlives the order's record and every replay window of
  -- the input topics (docs/operations.md, "How long data lives where")
  local _, rx_ttl = lifecycle_ttls(P)
  redis.call('SET', P .. 'rx:' .. pid, oid, 'PX', rx_ttl)
  redis.call('HSET', k, 'id', oid, 'rx', pid, 'patient', A[2], 'lat', A[3], 'lon', A[4],
    'has_point', A[5], 'address', A[6], 'items', A[7], 'nominated', A[8], 'fulfilment', A[9],
    'priority', A[10], 'approved_ms', A[11], 'hospital', A[12], 'insurance', A[13],
    'expires_ms', A[14], 'cold', A[15], 'code', A[16], 'attempt', 0, 'seq', 0,
    'created_ms', NOW, 'pharmacy', '', 'courier', '', 'dist_m', 0)
  emit(cx, oid, 'ROUTING', 'created')
  if redis.call('EXISTS', P .. 'rxcancel:' .. pid) == 1 then
    local why = redis.call('GET', P .. 'rxcancel:' .. pid)
    emit(cx, oid, 'CANCELLED', 'cancelled', why)
    return { 'created', oid, 'CANCELLED', '0' }
  end
  if A[17] ~= '' then
    emit(cx, oid, 'UNROUTABLE', 'unroutable', A[17])
    return { 'created', oid, 'UNROUTABLE', '0' }
  end
  -- intake paused in the zone of the delivery point: held until it resumes
  local zone = A[5] == '1' and zone_paused_at(P, tonumber(A[3]), tonumber(A[4]))
  if zone then
    hold_put(cx, oid, 'zone_paused', zone)
    return { 'created', oid, 'ROUTING', '0', 'held' }
  end
  redis.call('ZADD', P .. 'due', NOW + tonumber(A[18]), oid)
  return { 'created', oid, 'ROUTING', '0' }
end)

-- offer oid expect_attempt pharmacy dist_m deadline_ms
register('offer', { 'oid:id', 'attempt:int', 'pharmacy:id', 'dist_m:num', 'deadline_ms:int' }, function(cx, A)
  local P, NOW = cx.p, cx.now
  local oid, ph = A[1], A[3]
  local k = okey(P, oid)
  local o = redis.call('HMGET', k, 'state', 'attempt')
  if o[1] ~= 'ROUTING' or o[2] ~= A[2] then return { 'stale', o[1] or '' } end
  if redis.call('SISMEMBER', k .. ':tried', ph) == 1 then return { 'tried' } end
  local p = redis.call('HMGET', phkey(P, ph), 'open', 'capacity')
  local load = redis.call('SCARD', phkey(P, ph) .. ':active')
  if p[1] ~= '1' or load >= tonumber(p[2] or '0') then return { 'busy' } end
  local attempt = redis.call('HINCRBY', k, 'attempt', 1)
  -- routed after all (a replayed prescription while held): not held any more
  hold_clear(P, oid)
  local by = NOW + tonumber(A[5])
  redis.call('HSET', k, 'pharmacy', ph, 'dist_m', A[4], 'accept_by', by)
  redis.call('SADD', k .. ':tried', ph)
  redis.call('SADD', phkey(P, ph) .. ':offers', oid)
  redis.call('SADD', phkey(P, ph) .. ':active', oid)
  redis.call('ZADD', P .. 'due', by, oid)
  emit(cx, oid, 'OFFERED', 'offered', '', by)
  notify_pharmacy(P, ph, oid)
  return { 'offered', tostring(attempt), tostring(by) }
end)

-- unroutable oid expect_attempt reason [class]: expect_attempt '*' is any
-- attempt (a job that gave up before it could load the order). class
-- 'final' (the default) ends the order UNROUTABLE; 'hold' (a reason that
-- may pass: nothing open or in stock in range) leaves it in ROUTING, held
-- (hold_put), and replies { 'ok', 'ROUTING', 'held' }.
register('unroutable', { 'oid:id', 'attempt:attempt', 'reason:str', 'class:str?' }, function(cx, A)
  local P, NOW = cx.p, cx.now
  local oid = A[1]
  local o = redis.call('HMGET', okey(P, oid), 'state', 'attempt')
  if o[1] ~= 'ROUTING' or (A[2] ~= '*' and o[2] ~= A[2]) then return { 'stale', o[1] or '' } end
  if A[4] == 'hold' then
    hold_put(cx, oid, A[3])
    return { 'ok', 'ROUTING', 'held' }
  end
  if A[4] and A[4] ~= 'final' then
    return redis.error_reply("ERR rxd_unroutable: class must be 'final' or 'hold', got '" ..
      A[4]:sub(1, 32) .. "'")
  end
  redis.call('ZREM', P .. 'due', oid)
  hold_clear(P, oid)
  emit(cx, oid, 'UNROUTABLE', 'unroutable', A[3])
  return { 'ok', 'UNROUTABLE' }
end)

-- expire oid attempt: the accept deadline of offer number `attempt` passed
register('expire', { 'oid:id', 'attempt:int' }, function(cx, A)
  local P, NOW = cx.p, cx.now
  local oid = A[1]
  local k = okey(P, oid)
  local o = redis.call('HMGET', k, 'state', 'attempt', 'accept_by', 'pharmacy')
  if o[1] ~= 'OFFERED' or o[2] ~= A[2] or tonumber(o[3] or '0') > NOW then
    return { 'stale', o[1] or '' }
  end
  release_pharmacy(cx, oid, o[4])
  redis.call('ZADD', P .. 'due', NOW, oid)
  emit(cx, oid, 'ROUTING', 'offer_expired', 'accept_deadline_missed')
  redis.call('HSET', k, 'pharmacy', '', 'accept_by', 0)
  return { 'ok', 'ROUTING' }
end)

-- pharmacy oid pharmacy action reason: accept|reject|ready|collected|returned
register('pharmacy', { 'oid:id', 'pharmacy:id', 'action:str', 'reason:str' }, function(cx, A)
  local P, NOW = cx.p, cx.now
  local oid, ph, act = A[1], A[2], A[3]
  local k = okey(P, oid)
  local o = redis.call('HMGET', k, 'state', 'pharmacy', 'fulfilment', 'courier', 'tried')
  if not o[1] then return { 'err', 'not_found', '' } end
  if o[2] ~= ph then
    -- a pharmacy that was offered this order before hears that it moved on
    if was_tried(k, o[5], ph) then return { 'err', 'conflict', o[1] } end
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
    redis.call('SREM', phkey(P, ph) .. ':offers', oid)
    redis.call('ZREM', P .. 'due', oid)
    emit(cx, oid, 'ACCEPTED', 'accepted')
  elseif act == 'reject' and st == 'OFFERED' then
    release_pharmacy(cx, oid, ph)
    redis.call('ZADD', P .. 'due', NOW, oid)
    emit(cx, oid, 'ROUTING', 'rejected', A[4])
    redis.call('HSET', k, 'pharmacy', '', 'accept_by', 0)
  elseif act == 'ready' and st == 'ACCEPTED' then
    if o[3] == '0' then redis.call('ZADD', P .. 'dispatch', NOW, oid) end
    emit(cx, oid, 'READY', 'ready')
  elseif act == 'collected' and st == 'READY' and o[3] == '1' then
    release_pharmacy(cx, oid, ph)
    emit(cx, oid, 'COLLECTED', 'collected')
  elseif act == 'collected' and st == 'COURIER_ASSIGNED' and o[3] == '0' then
    -- a delivery order handed to its courier: the pharmacy's confirmation
    -- is the pickup (the proof of presence that needs no position)
    picked_up(cx, oid, o[4], ph, 'pharmacy_confirmed')
  elseif act == 'returned' and st == 'RETURNING' then
    release_courier(cx, oid, o[4])
    emit(cx, oid, 'RETURNED', 'returned')
  else
    return { 'err', 'conflict', st }
  end
  return { 'ok', redis.call('HGET', k, 'state') }
end)

-- cancel by(order|rx) id reason
register('cancel', { 'by:str', 'id:ref', 'reason:str' }, function(cx, A)
  local P, NOW = cx.p, cx.now
  local oid = A[2]
  if A[1] == 'rx' then
    oid = redis.call('GET', P .. 'rx:' .. A[2])
    if not oid then
      redis.call('SET', P .. 'rxcancel:' .. A[2], A[3], 'EX', 30 * 86400)
      return { 'ok', 'tombstone' }
    end
  end
  local k = okey(P, oid)
  local o = redis.call('HMGET', k, 'state', 'pharmacy', 'courier')
  if not o[1] then return { 'err', 'not_found', '' } end
  if o[1] == 'CANCELLED' then return { 'ok', 'CANCELLED', oid } end
  if not PRE_PICKUP[o[1]] then return { 'err', 'conflict', o[1] } end
  release_pharmacy(cx, oid, o[2])
  release_courier(cx, oid, o[3])
  redis.call('ZREM', P .. 'due', oid)
  redis.call('ZREM', P .. 'dispatch', oid)
  hold_clear(P, oid)
  emit(cx, oid, 'CANCELLED', 'cancelled', A[3])
  return { 'ok', 'CANCELLED', oid }
end)

-- assign oid courier deadline_ms min_ts_ms dist_m: atomic check of the
-- courier's freshness, availability, cold box and capacity, so that several
-- dispatchers never give a courier more than its capacity
register('assign', { 'oid:id', 'courier:id', 'deadline_ms:int', 'min_ts_ms:num', 'dist_m:num' }, function(cx, A)
  local P, NOW = cx.p, cx.now
  local oid, c = A[1], A[2]
  local k = okey(P, oid)
  local o = redis.call('HMGET', k, 'state', 'courier', 'cold', 'fulfilment')
  if o[1] ~= 'READY' or (o[2] or '') ~= '' or o[4] ~= '0' then return { 'stale', o[1] or '' } end
  if redis.call('SISMEMBER', k .. ':ctried', c) == 1 then return { 'busy', 'tried' } end
  local q = redis.call('HMGET', cokey(P, c), 'available', 'cold', 'capacity', 'ts_ms', 'benched')
  local load = redis.call('SCARD', cokey(P, c) .. ':orders')
  if q[1] ~= '1' then return { 'busy', 'unavailable' } end
  if q[5] == '1' then return { 'busy', 'benched' } end
  if o[3] == '1' and q[2] ~= '1' then return { 'busy', 'no_cold_box' } end
  if load >= tonumber(q[3] or '0') then return { 'busy', 'at_capacity' } end
  if tonumber(q[4] or '0') < tonumber(A[4]) then return { 'busy', 'stale_position' } end
  local by = NOW + tonumber(A[3])
  redis.call('SADD', cokey(P, c) .. ':orders', oid)
  redis.call('HSET', k, 'courier', c, 'assign_by', by, 'c_accepted', 0, 'c_dist_m', A[5])
  redis.call('SADD', k .. ':ctried', c)
  redis.call('ZREM', P .. 'dispatch', oid)
  redis.call('ZADD', P .. 'cdue', by, oid)
  emit(cx, oid, 'COURIER_ASSIGNED', 'courier_assigned', '', by)
  notify_courier(P, c, oid)
  return { 'assigned', tostring(by) }
end)

-- Gives an assigned order back to the dispatch queue (decline or a missed
-- deadline). The event still names the courier that let it go.
local function courier_give_back(cx, oid, c, kind, reason)
  local P, NOW = cx.p, cx.now
  release_courier(cx, oid, c)
  redis.call('ZADD', P .. 'dispatch', NOW, oid)
  emit(cx, oid, 'READY', kind, reason)
  redis.call('HSET', okey(P, oid), 'courier', '', 'assign_by', 0, 'c_accepted', 0)
end

-- Why courier c may not declare the pickup of an order at pharmacy ph, or
-- nil when it may: its last position must be fresher than max_age_ms and
-- within radius_m of the pharmacy (proof 'position'); with proof
-- 'handover' only the pharmacy's confirmation (its 'collected') counts.
-- Returns the refusal word, the distance and the age ('-1' when unknown).
local function pickup_refusal(cx, c, ph, radius_m, max_age_ms, proof)
  local P, NOW = cx.p, cx.now
  if proof == 'handover' then return 'handover_required', '-1', '-1' end
  local q = redis.call('HMGET', cokey(P, c), 'lat', 'lon', 'ts_ms')
  local p = redis.call('HMGET', phkey(P, ph), 'lat', 'lon')
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
register('courier', { 'oid:id', 'courier:id', 'action:str', 'arg:str', 'max_wrong_codes:int',
  'radius_m:num?', 'max_age_ms:num?', 'proof:str?' }, function(cx, A)
  local P, NOW = cx.p, cx.now
  local oid, c, act = A[1], A[2], A[3]
  local k = okey(P, oid)
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
    redis.call('HSET', cokey(P, c), 'misses', 0)
    redis.call('ZREM', P .. 'cdue', oid)
    emit(cx, oid, 'COURIER_ASSIGNED', 'courier_accepted')
    notify_courier(P, c, oid)
  elseif act == 'decline' and st == 'COURIER_ASSIGNED' and o[3] ~= '1' then
    -- an answer, not a miss: the row of misses is broken
    redis.call('HSET', cokey(P, c), 'misses', 0)
    courier_give_back(cx, oid, c, 'courier_declined', A[4])
  elseif act == 'pickup' and st == 'COURIER_ASSIGNED' then
    -- the courier's word alone is not enough: it must be at the pharmacy
    local why, dist, age = pickup_refusal(cx, c, o[6], tonumber(A[6] or '300'),
      tonumber(A[7] or '120000'), A[8] or 'position')
    if why then return { 'refused', why, dist, age } end
    -- picking up implies accepting
    picked_up(cx, oid, c, o[6], '')
  elseif act == 'deliver' and st == 'PICKED_UP' then
    local wrong = tonumber(o[5] or '0')
    if wrong >= tonumber(A[5]) then return { 'err', 'locked', st } end
    if A[4] ~= o[4] then
      wrong = redis.call('HINCRBY', k, 'wrong_codes', 1)
      return { 'err', 'wrong_code', tostring(tonumber(A[5]) - wrong) }
    end
    redis.call('SREM', cokey(P, c) .. ':orders', oid)
    emit(cx, oid, 'DELIVERED', 'delivered')
    notify_courier(P, c, oid)
  elseif act == 'fail' and st == 'PICKED_UP' then
    emit(cx, oid, 'RETURNING', 'delivery_failed', A[4])
    notify_pharmacy(P, o[6], oid)
    notify_courier(P, c, oid)
  else
    return { 'err', 'conflict', st }
  end
  return { 'ok', redis.call('HGET', k, 'state') }
end)

-- courier_expire oid courier max_misses: the courier let the offer lapse.
-- A cdue entry that no longer stands for a lapsed offer is put right: gone
-- when the order moved on, back at its real deadline otherwise.
register('courier_expire', { 'oid:id', 'courier:id', 'max_misses:int' }, function(cx, A)
  local P, NOW = cx.p, cx.now
  local oid, c = A[1], A[2]
  local k = okey(P, oid)
  local o = redis.call('HMGET', k, 'state', 'courier', 'c_accepted', 'assign_by')
  if o[1] ~= 'COURIER_ASSIGNED' or o[3] == '1' then
    redis.call('ZREM', P .. 'cdue', oid)
    return { 'stale', o[1] or '' }
  end
  if o[2] ~= c or tonumber(o[4] or '0') > NOW then
    redis.call('ZADD', P .. 'cdue', tonumber(o[4] or '0'), oid)
    return { 'stale', o[1] }
  end
  courier_give_back(cx, oid, c, 'courier_timeout', 'assignment_deadline_missed')
  local misses = redis.call('HINCRBY', cokey(P, c), 'misses', 1)
  if misses >= tonumber(A[3]) then
    redis.call('HSET', cokey(P, c), 'available', 0)
    return { 'ok', 'unavailable', tostring(misses) }
  end
  return { 'ok', 'available', tostring(misses) }
end)
