
-- orders_next.lua (tests/upgrade, never in a production build): the
-- expand step of a minor upgrade of the rxd_orders library, appended after
-- views.lua by the test build of the next minor (the build bumps VERSION).
-- It adds what a minor may add and nothing an old caller would misread:
-- a stored field old readers ignore and a function old callers never call.

-- Every event also records on the order which library version wrote it
-- last ('v' on ord:<id>). emit is the local of lib_head.lua: the
-- transitions look it up when they run, so they call this one.
local emit_before_next = emit
emit = function(cx, oid, state, kind, reason, deadline)
  local seq = emit_before_next(cx, oid, state, kind, reason, deadline)
  redis.call('HSET', okey(cx.p, oid), 'v', VERSION)
  return seq
end

-- order_brief oid: state, sequence number and the version that wrote the
-- order last ('' when a version before this one did).
register('order_brief', { 'oid:id' }, function(cx, A)
  local o = redis.call('HMGET', okey(cx.p, A[1]), 'state', 'seq', 'v')
  if not o[1] then return { 'not_found' } end
  return { 'ok', o[1], o[2] or '0', o[3] or '' }
end)
