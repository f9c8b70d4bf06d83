-- lifecycle.lua: the settings and the read side of the orders' data
-- lifecycle (part of the rxd_orders library, see lib_head.lua, where the
-- closing step and the live-state indexes are).

-- lifecycle_set order_retention_ms rx_dedupe_ttl_ms: stores the expiry of
-- closed records and of the rx: dedupe keys for the region. Every service
-- calls it on connect with its RXD_ORDER_RETENTION_S and RXD_RX_DEDUPE_TTL_S,
-- so the functions that end an order need no extra arguments.
register('lifecycle_set', { 'order_retention_ms:int', 'rx_dedupe_ttl_ms:int' }, function(cx, A)
  local P, NOW = cx.p, cx.now
  local retention, rx_ttl = tonumber(A[1]), tonumber(A[2])
  if retention < 1 or rx_ttl <= retention then
    return redis.error_reply('ERR rxd_lifecycle_set: need 0 < order_retention_ms < ' ..
      'rx_dedupe_ttl_ms, got ' .. A[1] .. ' and ' .. A[2])
  end
  redis.call('HSET', lifecycle_key(P), 'order_retention_ms', A[1], 'rx_dedupe_ttl_ms', A[2],
    'updated_ms', NOW)
  return { 'ok' }
end)

-- state_counts: per live state, in the order of the state machine, its
-- name, how many orders are in it and when the one waiting longest entered
-- it (ms, 0 when none): { 'ok', state, count, oldest_ms, state, ... }
register('state_counts', {}, function(cx, A)
  local P, NOW = cx.p, cx.now
  local out = { 'ok' }
  for _, st in ipairs(LIVE_STATES) do zset_count_line(out, st, state_index(P, st)) end
  return out
end)
