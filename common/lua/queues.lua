-- queues.lua: the work queues (part of the rxd_orders library, see
-- lib_head.lua): claiming due items under a lease, parking an item no retry
-- fixes, and loading what the dispatcher needs for a queued order.

-- claim zset limit lease_ms: takes due work items for lease_ms so that only
-- one instance works on each; a crashed instance's items come back later.
register('claim', { 'queue:queue', 'limit:int', 'lease_ms:int' }, function(cx, A)
  local P, NOW = cx.p, cx.now
  local z = P .. A[1]
  local ids = redis.call('ZRANGEBYSCORE', z, '-inf', NOW, 'LIMIT', 0, tonumber(A[2]))
  for _, id in ipairs(ids) do
    redis.call('ZADD', z, NOW + tonumber(A[3]), id)
  end
  return ids
end)

-- park queue oid reason: a routing or dispatch job met a Redis error no
-- retry fixes for oid. The order leaves the work queue (so it stops coming
-- back every lease) and 'parked' says why, for the operator; the order
-- itself is not touched (its keys may be what is broken).
register('park', { 'queue:queue', 'oid:id', 'reason:str' }, function(cx, A)
  local P, NOW = cx.p, cx.now
  redis.call('ZREM', P .. A[1], A[2])
  redis.call('HSET', P .. 'parked', A[2], cjson.encode({ queue = A[1], reason = A[3], at_ms = NOW }))
  return { 'ok' }
end)

-- dispatch_load oid: what the dispatcher needs to place an order (its
-- pharmacy's position, cold chain, priority, when it became ready, the
-- couriers that declined or missed it). An order that is not waiting for a
-- courier leaves the dispatch queue here, so a stray entry cannot loop.
register('dispatch_load', { 'oid:id' }, function(cx, A)
  local P, NOW = cx.p, cx.now
  local oid = A[1]
  local k = okey(P, oid)
  local o = redis.call('HMGET', k, 'state', 'courier', 'fulfilment', 'pharmacy', 'cold',
    'priority', 't_READY')
  if o[1] ~= 'READY' or (o[2] or '') ~= '' or o[3] ~= '0' then
    redis.call('ZREM', P .. 'dispatch', oid)
    return { 'skip', o[1] or '' }
  end
  local p = redis.call('HMGET', phkey(P, o[4]), 'lat', 'lon')
  local tried = redis.call('SMEMBERS', k .. ':ctried')
  return { 'ok', o[4], p[1] or '', p[2] or '', o[5] or '0', o[6] or '0', o[7] or '0',
           cjson.encode(tried) }
end)

-- queue_counts: for the gauges, per work queue (and the exceptions the
-- deadlines raised, and the hold: lowest score = the next give-up) its name, its length and its lowest score: for a work
-- queue when the item waiting longest was due (ms; later than now when
-- nothing is due yet), for the exceptions when the oldest was raised (0
-- when empty): { 'ok', name, count, lowest_ms, ... }
register('queue_counts', {}, function(cx, A)
  local P = cx.p
  local out = { 'ok' }
  for _, q in ipairs({ 'due', 'dispatch', 'cdue', 'exceptions', 'hold' }) do
    zset_count_line(out, q, P .. q)
  end
  return out
end)
