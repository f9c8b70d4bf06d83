-- console.lua: what the operator console's map reads (docs/operator-api.md,
-- "Live map"): the live feed of events after a cursor and a snapshot of the
-- fleet (pharmacies and couriers with their positions and loads). Reads
-- only.

-- live_read after count: the live stream's entries after the id 'after',
-- oldest first, as a JSON array of events ({ id, at_ms, subject, id of the
-- subject as sid, kind, and for orders state, pharmacy, courier }). Two
-- entries are marks, not events: after '' answers one { id, kind 'start' }
-- with the newest id (where a console that just took its snapshot goes on
-- from), and a cursor whose next entries were trimmed away answers one
-- { id, kind 'reset' }: the console takes a fresh snapshot and goes on from
-- there. An empty array: nothing new (the long-poll waits).
register('live_read', { 'after:str', 'count:int' }, function(cx, A)
  local key = live_key(cx.p)
  local n = math.max(1, math.min(tonumber(A[2]), 1000))
  local after = A[1]
  local function mark(kind)
    local top = redis.call('XREVRANGE', key, '+', '-', 'COUNT', 1)
    return { 'ok', cjson.encode({ { id = top[1] and top[1][1] or '0-0', kind = kind } }) }
  end
  if after == '' then return mark('start') end
  if not after:match('^%d+%-%d+$') then return op_refused('bad_after', '') end
  local first = redis.call('XRANGE', key, '-', '+', 'COUNT', 1)[1]
  if first and after ~= '0-0' and #redis.call('XRANGE', key, after, after) == 0 then
    -- the cursor's entry left the stream: if the oldest one kept is newer,
    -- entries after the cursor may have left too
    local fms, fseq = first[1]:match('^(%d+)%-(%d+)$')
    local ams, aseq = after:match('^(%d+)%-(%d+)$')
    if tonumber(fms) > tonumber(ams) or (fms == ams and tonumber(fseq) > tonumber(aseq)) then
      return mark('reset')
    end
  end
  local out = {}
  for i, x in ipairs(redis.call('XRANGE', key, '(' .. after, '+', 'COUNT', n)) do
    local e = {}
    for j = 1, #x[2], 2 do e[x[2][j]] = x[2][j + 1] end
    e.sid, e.id = e.id, x[1]
    e.at_ms = tonumber(e.at)
    e.at = nil
    out[i] = e
  end
  if #out == 0 then return { 'ok', '[]' } end
  return { 'ok', cjson.encode(out) }
end)

-- What the map shows of one pharmacy and one courier.
local function console_pharmacy(P, ph)
  local h = redis.call('HMGET', phkey(P, ph), 'name', 'lat', 'lon', 'open', 'capacity', 'cold')
  return { id = ph, name = h[1] or '', lat = tonumber(h[2]), lon = tonumber(h[3]),
    open = h[4] == '1', capacity = tonumber(h[5]) or 0, cold = h[6] == '1',
    load = redis.call('SCARD', phkey(P, ph) .. ':active') }
end

local function console_courier(P, c, now)
  local h = redis.call('HMGET', cokey(P, c), 'lat', 'lon', 'ts_ms', 'available', 'benched',
    'capacity', 'cold')
  local ts = tonumber(h[3])
  return { id = c, lat = tonumber(h[1]), lon = tonumber(h[2]),
    pos_age_ms = ts and math.max(0, now - ts) or cjson.null, available = h[4] == '1',
    benched = h[5] == '1', capacity = tonumber(h[6]) or 0, cold = h[7] == '1',
    load = redis.call('SCARD', cokey(P, c) .. ':orders') }
end

-- fleet kind limit: every pharmacy (kind 'pharmacies', from the geo index)
-- or every courier with a recent position (kind 'couriers', newest first),
-- up to limit, as JSON { <kind>, truncated }.
register('fleet', { 'kind:str', 'limit:int' }, function(cx, A)
  local P = cx.p
  local n = math.max(1, math.min(tonumber(A[2]), 20000))
  local out = {}
  local total
  if A[1] == 'pharmacies' then
    total = redis.call('ZCARD', ph_geo(P))
    for i, ph in ipairs(redis.call('ZRANGE', ph_geo(P), 0, n - 1)) do
      out[i] = console_pharmacy(P, ph)
    end
  elseif A[1] == 'couriers' then
    total = redis.call('ZCARD', co_seen(P))
    for i, c in ipairs(redis.call('ZREVRANGE', co_seen(P), 0, n - 1)) do
      out[i] = console_courier(P, c, cx.now)
    end
  else
    return op_refused('bad_kind', '')
  end
  local body = cjson.encode({ [A[1]] = out, truncated = total > #out })
  return { 'ok', (body:gsub('":{}', '":[]')) }
end)

-- The upper end of a fig_bin, in ms: a percentile is read as the bin's.
local function fig_bin_ms(bin) return math.floor((2 ^ ((bin + 1) / 4) - 1) * 1000) end

-- { n, p50_ms, p90_ms } of a table bin -> count.
local function fig_percentiles(bins)
  local keys, n = {}, 0
  for b, c in pairs(bins) do
    keys[#keys + 1] = b
    n = n + c
  end
  table.sort(keys)
  local out, seen = { n = n, p50_ms = cjson.null, p90_ms = cjson.null }, 0
  for _, b in ipairs(keys) do
    seen = seen + bins[b]
    if out.p50_ms == cjson.null and seen * 2 >= n then out.p50_ms = fig_bin_ms(b) end
    if out.p90_ms == cjson.null and seen * 10 >= n * 9 then out.p90_ms = fig_bin_ms(b) end
  end
  return out
end

-- figures window_s: the counters of the five-minute buckets that overlap
-- the last window_s seconds (so up to five minutes more), summed: orders
-- entering each state, each state's time p50 and p90 (the time orders
-- spent in it, counted when they left it), approval to door, unroutable by
-- reason, the pharmacies' acceptance (most offers first, at most 50), and
-- the live orders per state now. As JSON.
register('figures', { 'window_s:int' }, function(cx, A)
  local P, NOW = cx.p, cx.now
  local window_ms = math.max(60, math.min(tonumber(A[1]), 7200)) * 1000
  local entered, stages, c2d, unroutable, offers = {}, {}, {}, {}, {}
  local first = math.floor((NOW - window_ms) / FIG_BUCKET_MS)
  for b = first, math.floor(NOW / FIG_BUCKET_MS) do
    local h = redis.call('HGETALL', fig_key(P, b))
    for i = 1, #h, 2 do
      local f, c = h[i], tonumber(h[i + 1])
      local kind, rest = f:match('^(%w+):(.*)$')
      if kind == 'in' then
        entered[rest] = (entered[rest] or 0) + c
      elseif kind == 'st' then
        local st, bin = rest:match('^(.*):(%d+)$')
        stages[st] = stages[st] or {}
        stages[st][tonumber(bin)] = (stages[st][tonumber(bin)] or 0) + c
      elseif kind == 'c2d' then
        c2d[tonumber(rest)] = (c2d[tonumber(rest)] or 0) + c
      elseif kind == 'unr' then
        unroutable[rest] = (unroutable[rest] or 0) + c
      elseif kind == 'acc' or kind == 'dec' then
        offers[rest] = offers[rest] or { pharmacy = rest, accepted = 0, declined = 0 }
        if kind == 'acc' then offers[rest].accepted = offers[rest].accepted + c
        else offers[rest].declined = offers[rest].declined + c end
      end
    end
  end
  local stage_out = {}
  for st, bins in pairs(stages) do stage_out[st] = fig_percentiles(bins) end
  local acceptance = {}
  for _, o in pairs(offers) do
    o.offers = o.accepted + o.declined
    o.rate = o.accepted / o.offers
    acceptance[#acceptance + 1] = o
  end
  table.sort(acceptance, function(x, y)
    if x.offers ~= y.offers then return x.offers > y.offers end
    return x.pharmacy < y.pharmacy
  end)
  for i = #acceptance, 51, -1 do acceptance[i] = nil end
  local live = {}
  for _, st in ipairs(LIVE_STATES) do live[st] = redis.call('ZCARD', state_index(P, st)) end
  local body = cjson.encode({ window_s = window_ms / 1000, now_ms = NOW, entered = entered,
    stages = stage_out, click_to_door = fig_percentiles(c2d), unroutable = unroutable,
    acceptance = acceptance, live = live })
  return { 'ok', (body:gsub('"acceptance":{}', '"acceptance":[]')) }
end)
