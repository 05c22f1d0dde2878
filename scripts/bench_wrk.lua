-- The load of scripts/bench.py's HTTP rows, for wrk (https://github.com/wg/wrk):
--
--     wrk -t1 -c8 -d20s -s scripts/bench_wrk.lua http://127.0.0.1:PORT -- PATHS_FILE [TOKEN]
--
-- PATHS_FILE holds one request path per line (the query mix, or the records to read); each
-- connection's requests go round them, every thread starting at its own place. TOKEN, when
-- given, is sent as a bearer token. At the end one line starting "BENCH_WRK " carries the
-- figures as JSON (latencies in microseconds) for bench.py to read.

local requests = {}
local next_index = 1
local thread_number = 0

function setup(thread)
  thread_number = thread_number + 1
  thread:set("offset", thread_number)
end

function init(args)
  local headers = {}
  if args[2] ~= nil and args[2] ~= "" then
    headers["Authorization"] = "Bearer " .. args[2]
  end
  for line in io.lines(args[1]) do
    if #line > 0 then
      requests[#requests + 1] = wrk.format("GET", line, headers)
    end
  end
  if #requests == 0 then
    error("no request paths in " .. args[1])
  end
  next_index = ((tonumber(offset) or 1) * 7919) % #requests + 1
end

function request()
  local r = requests[next_index]
  next_index = next_index % #requests + 1
  return r
end

function done(summary, latency, _)
  local e = summary.errors
  io.write(string.format(
    'BENCH_WRK {"requests": %d, "duration_us": %d, "socket_errors": %d, "http_errors": %d,'
      .. ' "p50_us": %d, "p95_us": %d, "p99_us": %d, "mean_us": %.1f}\n',
    summary.requests, summary.duration, e.connect + e.read + e.write + e.timeout, e.status,
    latency:percentile(50), latency:percentile(95), latency:percentile(99), latency.mean
  ))
end
