-- deadlines.lua: the deadlines of the states that have no queue of their
-- own (part of the rxd_orders library, see lib_head.lua), and the
-- exceptions they raise for the desk (docs/architecture.md, "Deadlines").
--
-- An order's time in a state is the score of the live-state index
-- (idx:st:<STATE>, when it entered the state): a same-state event such as
-- a reminder does not restart the clock. A courier's pickup clock starts
-- at its accept, the last event of COURIER_ASSIGNED (t_COURIER_ASSIGNED).
-- The dispatcher finds the overdue orders (overdue) and applies each step
-- (deadline), which re-checks the state and the time atomically, so two
-- dispatchers racing apply it once.

-- An exception for the desk: listed (exceptions), announced on
-- order.events, raised once per stay in the state (emit clears it when the
-- order moves on).
local function raise_exception(cx, oid, state, kind, reason)
  local P, NOW = cx.p, cx.now
  redis.call('ZADD', exceptions_key(P), NOW, oid)
  redis.call('HSET', exceptions_info(P), oid,
    cjson.encode({ kind = kind, reason = reason, state = state, at_ms = NOW }))
  emit(cx, oid, state, 'exception', reason)
  return { 'ok', state, kind }
end

-- The pharmacy has had half its packing time: it is reminded, once.
local function step_remind(cx, oid, o)
  local P, NOW = cx.p, cx.now
  redis.call('HSET', okey(P, oid), 'reminded_ms', NOW)
  emit(cx, oid, 'ACCEPTED', 'reminded', 'packing_deadline_half')
  notify_pharmacy(P, o.pharmacy, oid)
  return { 'ok', 'ACCEPTED', 'reminded' }
end

-- Not packed in time: as a rejected offer, the pharmacy's capacity is
-- freed and the order routes again, the pharmacies tried kept.
local function step_reroute(cx, oid, o)
  local P, NOW = cx.p, cx.now
  release_pharmacy(cx, oid, o.pharmacy)
  redis.call('ZADD', P .. 'due', NOW, oid)
  emit(cx, oid, 'ROUTING', 'pack_expired', 'packing_deadline_missed')
  redis.call('HSET', okey(P, oid), 'pharmacy', '', 'accept_by', 0)
  return { 'ok', 'ROUTING', 'rerouted' }
end

-- Pickup in store never collected: back to stock, the order ends.
local function step_not_collected(cx, oid, o)
  release_pharmacy(cx, oid, o.pharmacy)
  emit(cx, oid, 'RETURNED', 'not_collected', 'not_collected')
  return { 'ok', 'RETURNED', 'not_collected' }
end

-- The courier accepted and never came: it loses the order (a miss, as a
-- lapsed offer is, benched after max_misses in a row) and the order waits
-- for another courier (ctried keeps this one out).
local function step_courier_lost(cx, oid, o, max_misses)
  local P, NOW = cx.p, cx.now
  courier_give_back(cx, oid, o.courier, 'courier_pickup_timeout', 'pickup_deadline_missed')
  local misses = redis.call('HINCRBY', cokey(P, o.courier), 'misses', 1)
  if misses >= max_misses then
    redis.call('HSET', cokey(P, o.courier), 'available', 0)
    return { 'ok', 'READY', 'courier_benched' }
  end
  return { 'ok', 'READY', 'courier_lost' }
end

local function step_deliver_exception(cx, oid)
  return raise_exception(cx, oid, 'PICKED_UP', 'deliver', 'delivery_deadline_missed')
end

local function step_return_exception(cx, oid)
  return raise_exception(cx, oid, 'RETURNING', 'return', 'return_deadline_missed')
end

local function has_exception(cx, oid)
  return redis.call('ZSCORE', exceptions_key(cx.p), oid) ~= false
end

-- Per kind: the state it watches, which orders of it it applies to, when
-- its clock started, whether its step was already taken this stay, and
-- the step.
local DEADLINE_KINDS = {
  pack_remind = { state = 'ACCEPTED',
                  done = function(cx, oid, o, since) return tonumber(o.reminded_ms or '0') >= since end,
                  step = step_remind },
  pack = { state = 'ACCEPTED', step = step_reroute },
  collect = { state = 'READY', applies = function(o) return o.fulfilment == '1' end,
              step = step_not_collected },
  pickup = { state = 'COURIER_ASSIGNED', applies = function(o) return o.c_accepted == '1' end,
             since = function(o) return tonumber(o.t_COURIER_ASSIGNED or '0') end,
             step = step_courier_lost },
  deliver = { state = 'PICKED_UP', done = has_exception, step = step_deliver_exception },
  ['return'] = { state = 'RETURNING', done = has_exception, step = step_return_exception },
}
local DEADLINE_FIELDS = { 'state', 'pharmacy', 'courier', 'fulfilment', 'c_accepted',
                          't_COURIER_ASSIGNED', 'reminded_ms' }
-- The most index entries one overdue call looks at.
local OVERDUE_SCAN_MAX = 1000

-- The deadline of kind d for oid: the order's fields when it has passed
-- and its step is still to take, or nil and why not.
local function deadline_due(cx, d, oid, after_ms)
  local v = redis.call('HMGET', okey(cx.p, oid), unpack(DEADLINE_FIELDS))
  local o = {}
  for i, f in ipairs(DEADLINE_FIELDS) do o[f] = v[i] or nil end
  if o.state ~= d.state then return nil, o.state or '', 'moved_on' end
  if d.applies and not d.applies(o) then return nil, o.state, 'not_applicable' end
  local since = tonumber(redis.call('ZSCORE', state_index(cx.p, d.state), oid) or '0')
  if d.since then since = math.max(since, d.since(o)) end
  if since + after_ms > cx.now then return nil, o.state, 'not_due' end
  if d.done and d.done(cx, oid, o, since) then return nil, o.state, 'done' end
  return o
end

local function deadline_kind(fname, kind)
  local d = DEADLINE_KINDS[kind]
  if d then return d end
  return nil, redis.error_reply('ERR ' .. fname .. ': kind must be one of pack_remind, pack, ' ..
    "collect, pickup, deliver, return, got '" .. kind:sub(1, 32) .. "'")
end

-- overdue kind after_ms limit: ids of orders whose deadline of that kind
-- (after_ms in the state) has passed and whose step is still to take,
-- those waiting longest first.
register('overdue', { 'kind:str', 'after_ms:int', 'limit:int' }, function(cx, A)
  local d, bad = deadline_kind('rxd_overdue', A[1])
  if not d then return bad end
  local after, limit = tonumber(A[2]), tonumber(A[3])
  local ids = redis.call('ZRANGEBYSCORE', state_index(cx.p, d.state), '-inf', cx.now - after,
    'LIMIT', 0, OVERDUE_SCAN_MAX)
  local out = {}
  for _, oid in ipairs(ids) do
    if #out >= limit then break end
    if deadline_due(cx, d, oid, after) then out[#out + 1] = oid end
  end
  return out
end)

-- deadline oid kind after_ms max_misses: takes the step of that deadline
-- if it is due: { 'ok', state after, what was done } or
-- { 'stale', state, why not } (moved_on, not_applicable, not_due, done).
register('deadline', { 'oid:id', 'kind:str', 'after_ms:int', 'max_misses:int' }, function(cx, A)
  local d, bad = deadline_kind('rxd_deadline', A[2])
  if not d then return bad end
  local o, state, why = deadline_due(cx, d, A[1], tonumber(A[3]))
  if not o then return { 'stale', state, why } end
  return d.step(cx, A[1], o, tonumber(A[4]))
end)

-- exceptions offset count: the open exceptions, newest first, as JSON
-- { total, exceptions: [{ order_id, at_ms, kind, reason, state }] }.
register('exceptions', { 'offset:int', 'count:int' }, function(cx, A)
  local P = cx.p
  local first = math.max(0, tonumber(A[1]))
  local n = math.min(math.max(0, tonumber(A[2])), 500)
  local out = {}
  if n > 0 then
    local z = redis.call('ZREVRANGE', exceptions_key(P), first, first + n - 1, 'WITHSCORES')
    for i = 1, #z, 2 do
      local e = cjson.decode(redis.call('HGET', exceptions_info(P), z[i]) or '{}')
      e.order_id, e.at_ms = z[i], tonumber(z[i + 1])
      out[#out + 1] = e
    end
  end
  local body = cjson.encode({ total = redis.call('ZCARD', exceptions_key(P)), exceptions = out })
  -- cjson writes an empty list as {}
  return { 'ok', (body:gsub('"exceptions":{}', '"exceptions":[]')) }
end)
