-- wrk script: PUT /v1/couriers/{id}/location spread over every courier of
-- the tokens file rxbench seed wrote ("id token lat lon" per line), with
-- keep-alive. Each wrk thread takes its own share of the couriers so that
-- one courier's timestamps only grow (every update is stored).
--   wrk -t2 -c64 -d10s -s locations.lua URL -- TOKENS_FILE THREADS
local threads = {}
local counter = 0

function setup(thread)
  thread:set("tid", counter)
  counter = counter + 1
  table.insert(threads, thread)
end

local mine = {}
local n = 0
local base = 0

function init(args)
  local nthreads = tonumber(args[2])
  local i = 0
  for line in io.lines(args[1]) do
    if i % nthreads == tid then
      local id, token, lat, lon = line:match("^(%S+) (%S+) (%S+) (%S+)$")
      table.insert(mine, {path = "/v1/couriers/" .. id .. "/location",
                          headers = {["Authorization"] = "Bearer " .. token,
                                     ["Content-Type"] = "application/json"},
                          lat = tonumber(lat), lon = tonumber(lon)})
    end
    i = i + 1
  end
  base = os.time() * 1000
end

function request()
  n = n + 1
  local c = mine[(n % #mine) + 1]
  local ts = base + math.floor(n / #mine) + 1
  local body = string.format('{"lat":%.6f,"lon":%.6f,"ts_ms":%d}', c.lat, c.lon, ts)
  return wrk.format("PUT", c.path, c.headers, body)
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'WRKJSON {"requests":%d,"duration_us":%d,"errors":%d,"non2xx":%d,' ..
    '"p50_us":%d,"p90_us":%d,"p99_us":%d,"p999_us":%d,"max_us":%d}\n',
    summary.requests, summary.duration, e.connect + e.read + e.write + e.timeout, e.status,
    latency:percentile(50), latency:percentile(90), latency:percentile(99),
    latency:percentile(99.9), latency.max))
end
