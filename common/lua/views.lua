-- views.lua: read projections (part of the rxd_orders library, see
-- lib_head.lua): what the router loads, and the JSON views of the HTTP API
-- and rxctl. None of these writes.

-- load oid: what the router needs to route an order
register('load', { 'oid:id' }, function(cx, A)
  local P, NOW = cx.p, cx.now
  local o = redis.call('HMGET', okey(P, A[1]), 'state', 'attempt', 'lat', 'lon', 'has_point',
    'items', 'nominated', 'fulfilment', 'insurance', 'cold', 'expires_ms', 'accept_by',
    'pharmacy')
  if not o[1] then return { 'not_found' } end
  local tried = redis.call('SMEMBERS', okey(P, A[1]) .. ':tried')
  -- a closed record has no point or items: '' keeps the reply's length
  return { 'ok', o[1], o[2], o[3] or '', o[4] or '', o[5] or '', o[6] or '', o[7], o[8], o[9], o[10], o[11],
           o[12] or '0', o[13] or '', cjson.encode(tried) }
end)

-- offers pharmacy: JSON list of the orders waiting for its answer
register('offers', { 'pharmacy:id' }, function(cx, A)
  local P, NOW = cx.p, cx.now
  local ph = A[1]
  local ids = redis.call('SMEMBERS', phkey(P, ph) .. ':offers')
  local out = {}
  for _, oid in ipairs(ids) do
    local o = redis.call('HMGET', okey(P, oid), 'state', 'pharmacy', 'items', 'fulfilment',
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
end)

-- get oid: the operator's view (state, holders, timeline)
register('get', { 'oid:id' }, function(cx, A)
  local P, NOW = cx.p, cx.now
  local k = okey(P, A[1])
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
end)

-- assignments courier: JSON list of the courier's orders; the address only
-- once picked up; never drug names or the patient
register('assignments', { 'courier:id' }, function(cx, A)
  local P, NOW = cx.p, cx.now
  local c = A[1]
  local ids = redis.call('SMEMBERS', cokey(P, c) .. ':orders')
  local out = {}
  for _, oid in ipairs(ids) do
    local o = redis.call('HMGET', okey(P, oid), 'state', 'courier', 'pharmacy', 'lat', 'lon',
      'address', 'assign_by', 'c_accepted', 'cold', 'c_dist_m')
    if o[2] == c then
      local p = redis.call('HMGET', phkey(P, o[3]), 'lat', 'lon', 'name')
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
end)
