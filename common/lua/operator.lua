-- operator.lua: the operator's reads and repairs of orders (part of the
-- rxd_orders library, see lib_head.lua; docs/operator-api.md). Every action
-- takes the actor ('<role>:<id>' of the token, or 'rxctl:<user>') and a
-- reason, sets cx.actor so that its events carry who did it, emits its own
-- event kind and writes one audit entry, all in the same atomic call.
--
-- An action answers { 'ok', state after } or { 'refused', why, state }
-- (the HTTP 409, with why for the operator), or { 'err', 'not_found', '' }.

-- The most index entries one op_list call looks at: a search through a
-- large state returns a cursor rather than blocking Redis.
local OP_SCAN_MAX = 1000
local OP_LIST_MAX = 200

local OP_FIELDS = { 'state', 'pharmacy', 'courier', 'hospital', 'rx', 'created_ms', 'fulfilment',
                    'cold', 'wrong_codes', 'code', 'lat', 'lon', 'has_point' }

local function op_order(P, oid)
  local v = redis.call('HMGET', okey(P, oid), unpack(OP_FIELDS))
  if not v[1] then return nil end
  local o = {}
  for i, f in ipairs(OP_FIELDS) do o[f] = v[i] or '' end
  return o
end

local function op_refused(why, state) return { 'refused', why, state or '' } end

-- Runs an action on order oid: fn(cx, oid, o) answers as above; the audit
-- entry is written only when the action changed something.
local function op_action(cx, A, action, fn)
  cx.actor = A[2]
  local oid = A[1]
  local o = op_order(cx.p, oid)
  if not o then return { 'err', 'not_found', '' } end
  local r, detail = fn(cx, oid, o)
  if r[1] == 'ok' then
    detail = detail or {}
    detail.from = o.state
    detail.to = r[2]
    audit(cx, action, 'order:' .. oid, A[3], cjson.encode(detail))
  end
  return r
end

-- Registers an action: its arguments are oid, actor, reason, then extra
-- (at most two: loading the library runs without ipairs or table).
local function op_register(op, extra, action, fn)
  local spec = { 'oid:id', 'actor:str', 'reason:str', extra[1], extra[2] }
  register(op, spec, function(cx, A) return op_action(cx, A, action, function(c, oid, o)
    return fn(c, oid, o, A)
  end) end)
end

-- op_cancel oid actor reason: before pickup the order ends CANCELLED (its
-- holdings released, as cancel does); picked up, it goes back to the
-- pharmacy (RETURNING, as a failed delivery does).
op_register('op_cancel', {}, 'cancel', function(cx, oid, o, A)
  local P = cx.p
  if FINAL_STATES[o.state] then return op_refused('final_state', o.state) end
  if o.state == 'RETURNING' then return op_refused('already_returning', o.state) end
  if o.state == 'PICKED_UP' then
    emit(cx, oid, 'RETURNING', 'op_cancel', A[3])
    notify_pharmacy(P, o.pharmacy, oid)
    notify_courier(P, o.courier, oid)
    return { 'ok', 'RETURNING' }
  end
  release_pharmacy(cx, oid, o.pharmacy)
  release_courier(cx, oid, o.courier)
  hold_clear(P, oid) -- a held order leaves the hold with its end
  redis.call('ZREM', P .. 'due', oid)
  redis.call('ZREM', P .. 'dispatch', oid)
  emit(cx, oid, 'CANCELLED', 'op_cancel', A[3])
  return { 'ok', 'CANCELLED' }
end)

-- Why courier c cannot take order o now, or nil (the checks of assign,
-- without the position's freshness: the desk has spoken to the courier).
local function op_courier_refusal(P, o, c)
  if c == o.courier then return 'same_courier' end
  if redis.call('EXISTS', cokey(P, c)) == 0 then return 'no_such_courier' end
  local q = redis.call('HMGET', cokey(P, c), 'available', 'cold', 'capacity')
  if q[1] ~= '1' then return 'courier_unavailable' end
  if o.cold == '1' and q[2] ~= '1' then return 'courier_has_no_cold_box' end
  if redis.call('SCARD', cokey(P, c) .. ':orders') >= tonumber(q[3] or '0') then
    return 'courier_at_capacity'
  end
  return nil
end

-- op_reassign oid actor reason courier?: the order's courier (before
-- pickup) lets it go; it goes to the named courier, taken as accepted (the
-- desk arranged it: the pickup deadline runs from now), or back to the
-- dispatch queue.
op_register('op_reassign', { 'courier:str?' }, 'reassign', function(cx, oid, o, A)
  local P, NOW = cx.p, cx.now
  local c = A[4] or ''
  if c ~= '' and not ARG_KINDS.id[1](c) then return op_refused('bad_courier_id', o.state) end
  if o.fulfilment == '1' then return op_refused('pickup_in_store', o.state) end
  local held = o.state == 'COURIER_ASSIGNED'
  if not held and not (o.state == 'READY' and c ~= '') then
    return op_refused(o.state == 'READY' and 'no_courier' or 'not_before_pickup', o.state)
  end
  if c ~= '' then
    local why = op_courier_refusal(P, o, c)
    if why then return op_refused(why, o.state) end
  end
  release_courier(cx, oid, o.courier)
  redis.call('HSET', okey(P, oid), 'courier', '', 'assign_by', 0, 'c_accepted', 0)
  if c == '' then
    redis.call('ZADD', P .. 'dispatch', NOW, oid)
    emit(cx, oid, 'READY', 'op_reassign', A[3])
    return { 'ok', 'READY' }, { courier_from = o.courier }
  end
  redis.call('ZREM', P .. 'dispatch', oid)
  redis.call('SADD', cokey(P, c) .. ':orders', oid)
  redis.call('SADD', okey(P, oid) .. ':ctried', c)
  redis.call('HSET', okey(P, oid), 'courier', c, 'assign_by', NOW, 'c_accepted', 1)
  emit(cx, oid, 'COURIER_ASSIGNED', 'op_reassign', A[3])
  notify_courier(P, c, oid)
  return { 'ok', 'COURIER_ASSIGNED' }, { courier_from = o.courier, courier_to = c }
end)

local REROUTABLE = { ROUTING = true, OFFERED = true, ACCEPTED = true, READY = true,
                     COURIER_ASSIGNED = true }

-- Why pharmacy ph cannot be offered order o now, or nil (offer's checks;
-- a pharmacy tried before may be named again).
local function op_pharmacy_refusal(P, o, ph)
  if ph == o.pharmacy then return 'same_pharmacy' end
  if redis.call('EXISTS', phkey(P, ph)) == 0 then return 'no_such_pharmacy' end
  local p = redis.call('HMGET', phkey(P, ph), 'open', 'capacity')
  if p[1] ~= '1' then return 'pharmacy_closed' end
  if redis.call('SCARD', phkey(P, ph) .. ':active') >= tonumber(p[2] or '0') then
    return 'pharmacy_at_capacity'
  end
  return nil
end

-- op_reroute oid actor reason accept_ms pharmacy?: before pickup, the
-- order leaves its pharmacy (and courier); it is offered to the named
-- pharmacy (accept_ms to answer, as the router's offers) or routes again
-- to the next one (the pharmacies tried kept out, as the packing
-- deadline's reroute).
op_register('op_reroute', { 'accept_ms:int', 'pharmacy:str?' }, 'reroute', function(cx, oid, o, A)
  local P, NOW = cx.p, cx.now
  local ph = A[5] or ''
  local k = okey(P, oid)
  if ph ~= '' and not ARG_KINDS.id[1](ph) then return op_refused('bad_pharmacy_id', o.state) end
  if not REROUTABLE[o.state] then return op_refused('not_before_pickup', o.state) end
  if o.state == 'ROUTING' and ph == '' then return op_refused('already_routing', o.state) end
  if ph ~= '' then
    local why = op_pharmacy_refusal(P, o, ph)
    if why then return op_refused(why, o.state) end
  end
  release_pharmacy(cx, oid, o.pharmacy)
  release_courier(cx, oid, o.courier)
  hold_clear(P, oid) -- a held order sent to a named pharmacy is no longer held
  redis.call('ZREM', P .. 'dispatch', oid)
  redis.call('HSET', k, 'pharmacy', '', 'accept_by', 0, 'courier', '', 'assign_by', 0,
    'c_accepted', 0)
  local detail = { pharmacy_from = o.pharmacy }
  if ph == '' then
    redis.call('ZADD', P .. 'due', NOW, oid)
    emit(cx, oid, 'ROUTING', 'op_reroute', A[3])
    return { 'ok', 'ROUTING' }, detail
  end
  local dist = 0
  if o.has_point == '1' then
    local p = redis.call('HMGET', phkey(P, ph), 'lat', 'lon')
    dist = math.floor(distance_m(tonumber(o.lat), tonumber(o.lon), tonumber(p[1]),
      tonumber(p[2])) + 0.5)
  end
  local by = NOW + tonumber(A[4])
  redis.call('HINCRBY', k, 'attempt', 1)
  redis.call('HSET', k, 'pharmacy', ph, 'dist_m', dist, 'accept_by', by)
  redis.call('SADD', k .. ':tried', ph)
  redis.call('SADD', phkey(P, ph) .. ':offers', oid)
  redis.call('SADD', phkey(P, ph) .. ':active', oid)
  redis.call('ZADD', P .. 'due', by, oid)
  emit(cx, oid, 'OFFERED', 'op_reroute', A[3], by)
  notify_pharmacy(P, ph, oid)
  detail.pharmacy_to = ph
  return { 'ok', 'OFFERED' }, detail
end)

local CODE_LIVE = { ACCEPTED = true, READY = true, COURIER_ASSIGNED = true, PICKED_UP = true }

-- op_resend_code oid actor reason: the handover code goes to the patient
-- again (a patient.notify entry); order.events and the audit never carry
-- it.
op_register('op_resend_code', {}, 'resend_code', function(cx, oid, o, A)
  if not CODE_LIVE[o.state] or o.code == '' then return op_refused('no_live_code', o.state) end
  emit(cx, oid, o.state, 'op_code_resent', A[3])
  local rx = redis.call('HMGET', okey(cx.p, oid), 'rx', 'patient')
  redis.call('XADD', cx.p .. 'outbox', '*', 't', 'pn', 'order_id', oid, 'rx', rx[1] or '',
    'state', o.state, 'patient', rx[2] or '', 'code', o.code, 'at', cx.now, 'reason', A[3],
    'v', VERSION)
  return { 'ok', o.state }
end)

-- op_unlock oid actor reason identity_checked: after wrong handover codes
-- the desk has checked the patient's identity at the door: the count of
-- wrong codes starts again.
op_register('op_unlock', { 'identity_checked:int' }, 'unlock', function(cx, oid, o, A)
  if A[4] ~= '1' then return op_refused('identity_not_checked', o.state) end
  if o.state ~= 'PICKED_UP' then return op_refused('not_picked_up', o.state) end
  local wrong = tonumber(o.wrong_codes ~= '' and o.wrong_codes or '0')
  if wrong == 0 then return op_refused('not_locked', o.state) end
  redis.call('HSET', okey(cx.p, oid), 'wrong_codes', 0)
  emit(cx, oid, 'PICKED_UP', 'op_unlocked', A[3])
  return { 'ok', 'PICKED_UP' }, { identity_checked = true, wrong_codes = wrong }
end)

-- The list's cursor: '<state>:<score>:<order id>' of the last index entry
-- looked at ('' from the start). No part holds a ':'.
local function op_cursor_parse(cursor)
  if cursor == '' then return nil end
  local st, score, oid = cursor:match('^([%u_]+):(%d+):([%w%._%-]+)$')
  if not st then return nil, 'bad_cursor' end
  return { state = st, score = tonumber(score), oid = oid }
end

local function op_list_entry(oid, o, since)
  return { order_id = oid, state = o.state, since_ms = since, pharmacy_id = o.pharmacy,
           courier_id = o.courier, hospital = o.hospital, prescription_id = o.rx,
           created_ms = tonumber(o.created_ms) }
end

local function op_matches(o, want)
  return (want.pharmacy == '' or o.pharmacy == want.pharmacy) and
         (want.courier == '' or o.courier == want.courier) and
         (want.hospital == '' or o.hospital == want.hospital)
end

local function op_list_json(out, cursor)
  local body = cjson.encode({ orders = out, next_cursor = cursor })
  return { 'ok', (body:gsub('"orders":{}', '"orders":[]')) }
end

-- op_list state older_than_ms pharmacy courier hospital rx limit cursor:
-- live orders (of one state or all, oldest in their state first) matching
-- every filter given ('' for none), at most limit, as JSON { orders,
-- next_cursor } ('' when the search is through). A prescription id finds
-- its order, live or closed, through its dedupe key.
register('op_list', { 'state:str', 'older_than_ms:int', 'pharmacy:str', 'courier:str',
  'hospital:str', 'rx:str', 'limit:int', 'cursor:str' }, function(cx, A)
  local P, NOW = cx.p, cx.now
  local want = { pharmacy = A[3], courier = A[4], hospital = A[5] }
  local limit = math.max(1, math.min(tonumber(A[7]), OP_LIST_MAX))
  local out = {}
  if A[6] ~= '' then
    local oid = redis.call('GET', P .. 'rx:' .. A[6])
    local o = oid and op_order(P, oid)
    if o and (A[1] == '' or o.state == A[1]) and op_matches(o, want) then
      local since = tonumber(redis.call('ZSCORE', state_index(P, o.state), oid) or
        redis.call('HGET', okey(P, oid), 't_' .. o.state) or '0')
      if tonumber(A[2]) == 0 or since <= NOW - tonumber(A[2]) then
        out[1] = op_list_entry(oid, o, since)
      end
    end
    return op_list_json(out, '')
  end
  local states = LIVE_STATES
  if A[1] ~= '' then states = { A[1] } end
  local cur, bad = op_cursor_parse(A[8])
  if bad then return op_refused(bad, '') end
  local max_score = NOW - tonumber(A[2])
  local scanned = 0
  local started = cur == nil
  for _, st in ipairs(states) do
    if not started and st == cur.state then started = true end
    if started then
      local min = '-inf'
      if cur and cur.state == st then min = cur.score end
      local z = redis.call('ZRANGEBYSCORE', state_index(P, st), min, max_score, 'WITHSCORES',
        'LIMIT', 0, OP_SCAN_MAX - scanned)
      for i = 1, #z, 2 do
        local oid, score = z[i], tonumber(z[i + 1])
        -- entries of the cursor's score up to its id were seen (ties sort by id)
        if not (cur and cur.state == st and score == cur.score and oid <= cur.oid) then
          local o = op_order(P, oid)
          if o and op_matches(o, want) then out[#out + 1] = op_list_entry(oid, o, score) end
        end
        scanned = scanned + 1
        if #out >= limit or scanned >= OP_SCAN_MAX then
          return op_list_json(out, st .. ':' .. string.format('%d', score) .. ':' .. oid)
        end
      end
      cur = nil
    end
  end
  return op_list_json(out, '')
end)

-- op_audit count before: the audit stream, newest first, before the entry
-- id 'before' ('' from the newest), as JSON { entries, next_before }.
register('op_audit', { 'count:int', 'before:str' }, function(cx, A)
  local n = math.max(1, math.min(tonumber(A[1]), 500))
  local top = '+'
  if A[2] ~= '' then
    if not A[2]:match('^%d+%-%d+$') then return op_refused('bad_before', '') end
    top = '(' .. A[2]
  end
  local xs = redis.call('XREVRANGE', audit_key(cx.p), top, '-', 'COUNT', n)
  local out = {}
  for i, x in ipairs(xs) do
    local e = { id = x[1] }
    for j = 1, #x[2], 2 do e[x[2][j]] = x[2][j + 1] end
    e.at_ms = tonumber(e.at)
    e.at, e.v = nil, nil
    out[i] = e
  end
  local next_before = ''
  if #xs == n then next_before = xs[#xs][1] end
  local body = cjson.encode({ entries = out, next_before = next_before })
  return { 'ok', (body:gsub('"entries":{}', '"entries":[]')) }
end)
