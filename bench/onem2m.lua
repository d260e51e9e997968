-- wrk script for the oneM2M HTTP binding (used by bench/http.sh).
-- MODE=create: POST a contentInstance (ty=4) of CON_SIZE bytes to the target URL.
-- MODE=retrieve: GET the target URL (e.g. <container>/la).
local mode = os.getenv("MODE") or "create"
local originator = os.getenv("ORIG") or "Cbench"
local body = '{"m2m:cin":{"cnf":"text/plain:0","con":"' ..
             string.rep("x", tonumber(os.getenv("CON_SIZE") or "100")) .. '"}}'
local threads, n = 0, 0

function setup(thread)
  thread:set("tid", threads); threads = threads + 1
end

function request()
  n = n + 1
  local headers = { ["X-M2M-Origin"] = originator, ["X-M2M-RI"] = "b" .. (tid or 0) .. "-" .. n,
                    ["X-M2M-RVI"] = "4", ["Accept"] = "application/json" }
  if mode == "create" then
    headers["Content-Type"] = "application/json;ty=4"
    return wrk.format("POST", nil, headers, body)
  end
  return wrk.format("GET", nil, headers, nil)
end

function done(summary, latency, requests)
  local secs = summary.duration / 1e6
  local e = summary.errors
  io.write(string.format("%s: rps=%.0f p50=%.2fms p99=%.2fms requests=%d non2xx=%d socket_errors=%d\n",
    mode, summary.requests / secs, latency:percentile(50) / 1000, latency:percentile(99) / 1000,
    summary.requests, e.status, e.connect + e.read + e.write + e.timeout))
end
