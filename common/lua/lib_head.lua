-- lib_head.lua: the shared part of the rxd_orders Redis Functions library
-- (the order state machine of SPEC section 3): its version, the key names,
-- the argument checks every function runs, and the outbox writer.
--
-- The build joins lib_head.lua, transitions.lua, registries.lua,
-- queues.lua, views.lua, lifecycle.lua, deadlines.lua, fleet.lua, operator.lua and console.lua, in that order, under the '#!lua'
-- line into one library (cmake/lualib.cmake); later files use the locals
-- defined here.
--
-- Every change to an order, a pharmacy's or a courier's holdings happens in
-- one of the functions, atomically. Each state change appends the event to
-- the outbox stream in the same step (the relay publishes it to
-- order.events and patient.notify), so the state and its events can never
-- disagree, whichever process crashes when.
--
-- Every function is called as FCALL rxd_<op> 1 <anchor> <prefix> args...:
-- keys[1] is the region's anchor key (it carries the region's hash tag, so a
-- Redis Cluster sends the call to the slot that holds the whole region),
-- args[1] the key prefix ("rxd:{region}:"), then the operation's arguments.
-- Replies are arrays whose first element is a status word.

-- major.minor. Within one major, functions and replies only grow (a new
-- function, a new trailing reply field, a new outbox field), so a service
-- runs against any minor of its major at least as new as its own; a change
-- of a reply, an argument or a stored format that old callers would misread
-- bumps the major (docs/operations.md, "Upgrading the state machine library").
local VERSION = '2.4'

-- Per call context: cx.p the key prefix, cx.now Redis' clock in ms (one
-- reading per call, so every time a call writes is the same).
local function call_context(prefix)
  local t = redis.call('TIME')
  return { p = prefix, now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000) }
end

-- Key names: a kind, ':', an id, and maybe ':' and a part. Ids of ours
-- hold no ':' (common/ids.h), so 'ph:<id>' can never be another
-- pharmacy's part, and the indexes live under 'idx:', a kind no id
-- reaches, so no id names them (a pharmacy called 'geo' is 'ph:geo').
local function okey(P, oid) return P .. 'ord:' .. oid end
local function phkey(P, ph) return P .. 'ph:' .. ph end
local function cokey(P, c) return P .. 'co:' .. c end
local function ph_geo(P) return P .. 'idx:ph:geo' end
local function co_geo(P) return P .. 'idx:co:geo' end

-- Order ids: <region>-<epoch:2><ms:9><n:3>, the last three base 36
-- (0-9a-z, fixed width, so an id sorts by creation within its region), e.g.
-- 'north-000mia98z57000'. The region keeps regions apart; the time keeps an
-- id made after a restore or a failover apart from the ids made before it
-- (the restored counter went back, the clock did not); the epoch, which an
-- operator bumps after a restore or failover (docs/operations.md, "Redis
-- failover and restore"), is the guard for a clock that went back too. The
-- generator never goes back in time itself: within one ms, or while the
-- clock is behind the last id, it counts n up (then borrows the next ms).
-- docs/architecture.md, "Order ids".
local B36 = '0123456789abcdefghijklmnopqrstuvwxyz'
local ID_N_MAX = 36 * 36 * 36 - 1

local function b36(n, width, what)
  local s = ''
  for _ = 1, width do
    local d = n % 36
    s = B36:sub(d + 1, d + 1) .. s
    n = (n - d) / 36
  end
  if n ~= 0 then error(what .. ' does not fit in ' .. width .. ' base-36 digits') end
  return s
end

local function order_id_new(cx)
  local P = cx.p
  local region = P:match('{([^}]*)}') or 'default'
  local g = redis.call('HMGET', P .. 'ids', 'ms', 'n', 'epoch')
  local last, n, epoch = tonumber(g[1] or '0'), tonumber(g[2] or '0'), tonumber(g[3] or '0')
  local ms = cx.now
  if ms > last then n = 0 else ms, n = last, n + 1 end
  local oid
  while true do
    if n > ID_N_MAX then ms, n = ms + 1, 0 end
    oid = region .. '-' .. b36(epoch, 2, 'the id epoch') .. b36(ms, 9, 'the time') ..
      b36(n, 3, 'the counter')
    -- a counter reset within the same ms must not reuse a live id
    if redis.call('EXISTS', okey(P, oid)) == 0 then break end
    n = n + 1
  end
  redis.call('HSET', P .. 'ids', 'ms', ms, 'n', n)
  return oid
end

-- The work queues (sorted sets of order ids by due time).
-- Positions dated further ahead than this are not taken as fresh (a clock
-- set wrong, or a position dated in 2100 to stay 'fresh' for ever).
local FUTURE_SKEW_MS = 60000

local WORK_QUEUES = { due = true, dispatch = true, cdue = true }

-- Argument kinds: a test and what the error says the argument must be.
-- 'id' is the key id rule of common/ids.h (a caller that skipped the check
-- gets an error, not a phantom key), 'ref' the prescription id rule.
local function is_int(s) return s:match('^%-?%d+$') ~= nil end
local ARG_KINDS = {
  id = { function(s) return #s >= 1 and #s <= 64 and s:match('^[%w%._%-]+$') ~= nil end,
         'an id of 1-64 chars of [A-Za-z0-9._-]' },
  ref = { function(s) return #s >= 1 and #s <= 64 and s:match('^[%w%._:%-]+$') ~= nil end,
          'an id of 1-64 chars of [A-Za-z0-9._:-]' },
  int = { is_int, 'an integer' },
  num = { function(s)
            local n = tonumber(s)
            return n ~= nil and n == n and n ~= math.huge and n ~= -math.huge
          end, 'a number' },
  attempt = { function(s) return s == '*' or is_int(s) end, "an integer or '*'" },
  queue = { function(s) return WORK_QUEUES[s] ~= nil end, 'one of due, dispatch, cdue' },
  str = { function() return true end, 'a string' },
}

-- Parses 'name:kind' or 'name:kind?' (optional, only at the end).
local function arg_spec(s)
  local name, kind, opt = s:match('^([%w_]+):(%a+)(%??)$')
  if not (name and ARG_KINDS[kind]) then error('bad argument spec ' .. s) end
  return { name = name, kind = kind, optional = opt == '?' }
end

-- What the arity error says the function expects.
local function arity_text(fixed, nreq, rest, rest_min)
  local names = {}
  for _, a in ipairs(fixed) do names[#names + 1] = a.name .. (a.optional and '?' or '') end
  if #rest > 0 then
    for _, a in ipairs(rest) do names[#names + 1] = a.name end
    names[#names + 1] = '...'
    local many = (rest_min > 0 and rest_min .. '+' or '0+') .. ' groups of ' .. #rest
    if nreq > 0 then many = nreq .. ' + ' .. many end
    return many .. ' arguments (' .. table.concat(names, ', ') .. ')'
  end
  local n = tostring(nreq)
  if #fixed > nreq then n = nreq .. '-' .. #fixed end
  return n .. ' arguments (' .. table.concat(names, ', ') .. ')'
end

-- Parses an operation's spec (below) into its argument list.
local function parse_spec(fname, spec)
  local fixed, rest, nreq = {}, {}, 0
  for _, s in ipairs(spec) do
    fixed[#fixed + 1] = arg_spec(s)
    if not fixed[#fixed].optional then nreq = #fixed end
  end
  for _, s in ipairs(spec.rest or {}) do rest[#rest + 1] = arg_spec(s) end
  local rest_min = spec.rest_min or 0
  return { fname = fname, fixed = fixed, rest = rest, nreq = nreq, rest_min = rest_min,
           expects = arity_text(fixed, nreq, rest, rest_min) }
end

-- The arguments of a call as the operation takes them (the prefix taken
-- off), or nil and the error reply that says what is wrong.
local function check_args(f, keys, args)
  local fname, fixed, rest, nreq = f.fname, f.fixed, f.rest, f.nreq
  if #keys ~= 1 or #args < 1 then
    return nil, redis.error_reply('ERR ' .. fname .. ': call as FCALL ' .. fname ..
      ' 1 <anchor key> <key prefix> arguments...')
  end
  local n = #args - 1
  local ok
  if #rest > 0 then
    ok = n >= nreq + f.rest_min * #rest and (n - nreq) % #rest == 0
  else
    ok = n >= nreq and n <= #fixed
  end
  if not ok then
    return nil, redis.error_reply('ERR ' .. fname .. ': expects ' .. f.expects .. ', got ' .. n)
  end
  local A = {}
  for i = 1, n do
    local a = args[i + 1]
    local s = fixed[i] or rest[(i - nreq - 1) % #rest + 1]
    if not ARG_KINDS[s.kind][1](a) then
      return nil, redis.error_reply(string.format("ERR %s: argument %d (%s) must be %s, got '%s'",
        fname, i, s.name, ARG_KINDS[s.kind][2], a:sub(1, 64)))
    end
    A[i] = a
  end
  return A
end

-- Registers rxd_<op>: checks the call's arity and argument kinds, then runs
-- fn(cx, A) with A the operation's arguments. spec: a list of
-- 'name:kind[?]' ('?': optional, at the end), and optionally rest = a group
-- of them repeated rest_min or more times after the fixed ones. The spec is
-- parsed on the first call: loading a library runs with no Lua globals but
-- the redis API (no ipairs, string, table).
local function register(op, spec, fn)
  local fname = 'rxd_' .. op
  local parsed
  redis.register_function(fname, function(keys, args)
    parsed = parsed or parse_spec(fname, spec)
    local A, bad = check_args(parsed, keys, args)
    if not A then return bad end
    return fn(call_context(args[1]), A)
  end)
end

redis.register_function('rxd_version', function() return VERSION end)

-- The lifecycle of an order's data (docs/architecture.md, "What lives in
-- Redis and for how long"). A live order sits in the index of its state
-- (idx:st:<STATE>, scored by when it entered it); the step that ends it
-- sends the full record once to order.closed (outbox type 'cl') and shrinks
-- the hash to a closed record that expires.
local FINAL_STATES = { DELIVERED = true, COLLECTED = true, RETURNED = true, CANCELLED = true,
                       UNROUTABLE = true }
local LIVE_STATES = { 'ROUTING', 'OFFERED', 'ACCEPTED', 'READY', 'COURIER_ASSIGNED', 'PICKED_UP',
                      'RETURNING' }
local function state_index(P, state) return P .. 'idx:st:' .. state end

-- Appends name, the length of sorted set z and its lowest score ('0' when
-- empty) to out: one line of the gauges' reads (state_counts, queue_counts).
local function zset_count_line(out, name, z)
  local first = redis.call('ZRANGE', z, 0, 0, 'WITHSCORES')
  out[#out + 1] = name
  out[#out + 1] = tostring(redis.call('ZCARD', z))
  out[#out + 1] = first[2] or '0'
end
local function lifecycle_key(P) return P .. 'cfg:lifecycle' end

-- Used when no service has stored its settings (rxd_lifecycle_set) yet.
local LIFECYCLE_DEFAULTS = { order_retention_ms = 72 * 3600 * 1000,
                             rx_dedupe_ttl_ms = 45 * 86400 * 1000 }

-- The closed record's expiry and the rx: dedupe key's, in ms.
local function lifecycle_ttls(P)
  local c = redis.call('HMGET', lifecycle_key(P), 'order_retention_ms', 'rx_dedupe_ttl_ms')
  return tonumber(c[1] or '') or LIFECYCLE_DEFAULTS.order_retention_ms,
         tonumber(c[2] or '') or LIFECYCLE_DEFAULTS.rx_dedupe_ttl_ms
end

-- Orders past a deadline that only a person can resolve (deadlines.lua):
-- ids by when raised, and per id what was raised (JSON).
local function exceptions_key(P) return P .. 'exceptions' end
local function exceptions_info(P) return P .. 'exceptions:info' end

-- An exception belongs to the state it was raised in: moving on clears it.
local function state_index_move(P, oid, prev, state, NOW)
  if prev and not FINAL_STATES[prev] then redis.call('ZREM', state_index(P, prev), oid) end
  if not FINAL_STATES[state] then redis.call('ZADD', state_index(P, state), NOW, oid) end
  if redis.call('ZREM', exceptions_key(P), oid) == 1 then redis.call('HDEL', exceptions_info(P), oid) end
end

-- Patient data and the secret: they leave Redis with the closing step.
local CLOSED_DROP = { patient = true, address = true, items = true, code = true, lat = true,
                      lon = true, has_point = true }
-- Copied into the order.closed entry as they are ('' when absent).
local CLOSED_COPY = { 'rx', 'patient', 'address', 'items', 'lat', 'lon', 'has_point', 'hospital',
                      'nominated', 'pharmacy', 'courier', 'fulfilment', 'priority', 'cold',
                      'insurance', 'approved_ms', 'expires_ms', 'created_ms', 'attempt', 'dist_m',
                      'c_dist_m', 'wrong_codes', 'seq' }

-- A JSON array of the strings in list (cjson writes an empty table as {}).
local function json_list(list)
  if #list == 0 then return '[]' end
  return cjson.encode(list)
end

-- The order has just reached a final state (emit calls this once, after
-- the closing event): the full record goes to the outbox as 't' = 'cl', and
-- the order keeps only what replays and the operator need, until it expires.
-- The pharmacies tried move into the hash ('tried') so that a late answer
-- from one of them is still told 'conflict'. The timeline (no patient
-- data: what order.events carried) stays for the operator's view until the
-- record expires.
local function close_order(cx, oid, reason)
  local P, NOW = cx.p, cx.now
  local k = okey(P, oid)
  local h = redis.call('HGETALL', k)
  local o, times = {}, {}
  for i = 1, #h, 2 do
    o[h[i]] = h[i + 1]
    local st = h[i]:match('^t_([%u_]+)$')
    if st then times[st] = tonumber(h[i + 1]) end
  end
  local tried = json_list(redis.call('SMEMBERS', k .. ':tried'))
  local tl = redis.call('LRANGE', k .. ':tl', 0, -1)
  local entry = { 't', 'cl', 'order_id', oid, 'at', NOW, 'state', o.state, 'reason', reason }
  for _, f in ipairs(CLOSED_COPY) do
    entry[#entry + 1] = f
    entry[#entry + 1] = o[f] or ''
  end
  for _, v in ipairs({ 'times', cjson.encode(times), 'timeline', '[' .. table.concat(tl, ',') .. ']',
                       'tried', tried, 'v', VERSION }) do
    entry[#entry + 1] = v
  end
  redis.call('XADD', P .. 'outbox', '*', unpack(entry))
  -- written afresh rather than HDEL'd: a hash that held the items is in
  -- Redis' large encoding and would keep it, and most of its size
  local kept = { 'reason', reason, 'closed_ms', NOW, 'tried', tried }
  for i = 1, #h, 2 do
    if not CLOSED_DROP[h[i]] then
      kept[#kept + 1] = h[i]
      kept[#kept + 1] = h[i + 1]
    end
  end
  redis.call('DEL', k)
  redis.call('HSET', k, unpack(kept))
  redis.call('DEL', k .. ':tried', k .. ':ctried')
  for q in pairs(WORK_QUEUES) do redis.call('ZREM', P .. q, oid) end
  redis.call('HDEL', P .. 'parked', oid)
  local retention, rx_ttl = lifecycle_ttls(P)
  redis.call('PEXPIRE', k, retention)
  redis.call('PEXPIRE', k .. ':tl', retention)
  -- a key from before 2.1 has none yet; a newer one keeps the one from create
  if o.rx then redis.call('PEXPIRE', P .. 'rx:' .. o.rx, rx_ttl, 'NX') end
end

-- Whether pharmacy ph was offered order k: the set while the order lives,
-- the 'tried' field of its closed record after.
local function was_tried(k, tried_json, ph)
  if redis.call('SISMEMBER', k .. ':tried', ph) == 1 then return true end
  for _, t in ipairs(cjson.decode(tried_json or '[]')) do
    if t == ph then return true end
  end
  return false
end

-- The live feed of the operator console (docs/operator-api.md, "Live"):
-- every event in a short stream without patient data, the ids of which are
-- the console's cursor. Capped by count, not time: at a province's peak
-- (about 600 events/s) it covers the last ~15 s, enough for a console that
-- long-polls every few seconds; one that falls further behind starts again
-- from a fresh snapshot.
local LIVE_MAXLEN = 10000
local function live_key(P) return P .. 'live' end
local function live_add(cx, ...)
  redis.call('XADD', live_key(cx.p), 'MAXLEN', '~', LIVE_MAXLEN, '*', 'at', cx.now, ...)
end

-- The console's last-hour figures (docs/operator-api.md, "Figures"): per
-- five minutes, a hash of counters the state changes add to in the same
-- step (kept two hours): orders entering each state, the time each order
-- spent in the state it left and approval to door at delivery, both as
-- quarter-octave bins of seconds (a percentile read from them is within
-- 19 %), unroutable by reason, and offers accepted or not per pharmacy.
local FIG_BUCKET_MS = 300000
local FIG_KEEP_MS = 2 * 3600 * 1000
local function fig_key(P, b) return P .. 'fig:' .. b end
local function fig_bin(ms) return math.floor(4 * math.log(1 + math.max(0, ms) / 1000) / math.log(2)) end
local function fig_count(cx, prev, from_at, state, reason, ph, approved)
  local k = fig_key(cx.p, math.floor(cx.now / FIG_BUCKET_MS))
  redis.call('HINCRBY', k, 'in:' .. state, 1)
  local since = tonumber(from_at)
  if prev and since then redis.call('HINCRBY', k, 'st:' .. prev .. ':' .. fig_bin(cx.now - since), 1) end
  if state == 'DELIVERED' and tonumber(approved) then
    redis.call('HINCRBY', k, 'c2d:' .. fig_bin(cx.now - tonumber(approved)), 1)
  end
  if state == 'UNROUTABLE' then redis.call('HINCRBY', k, 'unr:' .. (reason or ''), 1) end
  if prev == 'OFFERED' and ph ~= '' then
    redis.call('HINCRBY', k, (state == 'ACCEPTED' and 'acc:' or 'dec:') .. ph, 1)
  end
  redis.call('PEXPIRE', k, FIG_KEEP_MS)
end

-- Appends one event of order oid (state after it, what happened, extras)
-- to the outbox and the order's timeline; a state change also tells the
-- patient. Every entry carries the library version that wrote it ('v');
-- an event that changes the state says which state it left and when that
-- state was entered ('from', 'from_at'), and when the prescription was
-- approved ('approved'), for the relay's stage histograms (2.2).
-- Returns the event's sequence number.
local function emit(cx, oid, state, kind, reason, deadline)
  local P, NOW = cx.p, cx.now
  local k = okey(P, oid)
  local prev = redis.call('HGET', k, 'state')
  local from, from_at = '', ''
  if prev and prev ~= state then
    from, from_at = prev, redis.call('HGET', k, 't_' .. prev) or ''
  end
  local seq = redis.call('HINCRBY', k, 'seq', 1)
  redis.call('HSET', k, 'state', state, 'updated_ms', NOW, 't_' .. state, NOW)
  if prev ~= state then
    if prev then redis.call('HINCRBY', P .. 'stats', prev, -1) end
    redis.call('HINCRBY', P .. 'stats', state, 1)
    state_index_move(P, oid, prev, state, NOW)
  end
  local o = redis.call('HMGET', k, 'rx', 'pharmacy', 'courier', 'dist_m', 'fulfilment',
    'cold', 'attempt', 'priority', 'patient', 'code', 'approved_ms')
  local ph = o[2] or ''
  if prev ~= state then fig_count(cx, prev, from_at, state, reason, ph, o[11]) end
  local plat, plon = '', ''
  if ph ~= '' then
    local pp = redis.call('HMGET', phkey(P, ph), 'lat', 'lon')
    plat, plon = pp[1] or '', pp[2] or ''
  end
  redis.call('XADD', P .. 'outbox', '*', 't', 'ev', 'order_id', oid, 'rx', o[1] or '',
    'seq', seq, 'at', NOW, 'state', state, 'kind', kind, 'pharmacy', ph,
    'courier', o[3] or '', 'reason', reason or '', 'dist_m', o[4] or '0',
    'fulfilment', o[5] or '0', 'cold', o[6] or '0', 'attempt', o[7] or '0',
    'deadline', deadline or 0, 'plat', plat, 'plon', plon, 'priority', o[8] or '0', 'v', VERSION,
    'from', from, 'from_at', from_at, 'approved', o[11] or '', 'actor', cx.actor or '')
  redis.call('RPUSH', k .. ':tl', cjson.encode({ seq = seq, at_ms = NOW, state = state,
    kind = kind, pharmacy = ph, courier = o[3] or '', reason = reason or '', actor = cx.actor }))
  live_add(cx, 'subject', 'order', 'id', oid, 'kind', kind, 'state', state, 'pharmacy', ph,
    'courier', o[3] or '')
  if prev ~= state then
    local code = ''
    if state == 'ACCEPTED' then code = o[10] or '' end
    redis.call('XADD', P .. 'outbox', '*', 't', 'pn', 'order_id', oid, 'rx', o[1] or '',
      'state', state, 'patient', o[9] or '', 'code', code, 'at', NOW, 'reason', reason or '',
      'v', VERSION)
  end
  if prev ~= state and FINAL_STATES[state] then close_order(cx, oid, reason or '') end
  return seq
end

-- The operator's trail (docs/operator-api.md). An operator function sets
-- cx.actor ('<role>:<id>' of the token) before it acts, so that every event
-- it emits carries who did it ('actor' on the outbox entry and the
-- timeline), and calls audit once with what it did, in the same atomic
-- step: the audit stream can never miss an action that happened, nor hold
-- one that did not. The stream is the recent window the operator API reads
-- (capped at AUDIT_MAXLEN entries); order.events, with the actor on every
-- event, is the permanent record.
local AUDIT_MAXLEN = 1000000
local function audit_key(P) return P .. 'audit' end
local function audit(cx, action, target, reason, detail)
  redis.call('XADD', audit_key(cx.p), 'MAXLEN', '~', AUDIT_MAXLEN, '*', 'at', cx.now,
    'actor', cx.actor or '', 'action', action, 'target', target, 'reason', reason or '',
    'detail', detail or '', 'v', VERSION)
end

-- An operator action on something other than an order (a courier, a
-- pharmacy, a zone) is an event too: outbox type 'op', published on
-- order.events with the subject in place of an order (a relay older than
-- 2.3 leaves such entries in the outbox for a newer one). subject:
-- 'courier', 'pharmacy' or 'zone'.
local function emit_subject(cx, subject, id, kind, reason)
  redis.call('XADD', cx.p .. 'outbox', '*', 't', 'op', 'subject', subject, 'id', id, 'kind', kind,
    'actor', cx.actor or '', 'reason', reason or '', 'at', cx.now, 'v', VERSION)
  live_add(cx, 'subject', subject, 'id', id, 'kind', kind)
end

local function notify_pharmacy(P, ph, oid)
  if ph and ph ~= '' then redis.call('PUBLISH', P .. 'notify:ph:' .. ph, oid) end
end

local function notify_courier(P, c, oid)
  if c and c ~= '' then redis.call('PUBLISH', P .. 'notify:co:' .. c, oid) end
end

-- Lets go of everything the order holds at its pharmacy and courier.
local function release_pharmacy(cx, oid, ph)
  local P, NOW = cx.p, cx.now
  if ph and ph ~= '' then
    redis.call('SREM', phkey(P, ph) .. ':offers', oid)
    redis.call('SREM', phkey(P, ph) .. ':active', oid)
    notify_pharmacy(P, ph, oid)
  end
end

local function release_courier(cx, oid, c)
  local P, NOW = cx.p, cx.now
  if c and c ~= '' then
    redis.call('SREM', cokey(P, c) .. ':orders', oid)
    notify_courier(P, c, oid)
  end
  redis.call('ZREM', P .. 'cdue', oid)
end
