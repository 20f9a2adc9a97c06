-- wrk script for bench_http.py: one of read / create / update / floor (BENCH_MODE).
-- Inputs from BENCH_DIR: ids.txt (one id a line), create.json, update_prefix.json, update_suffix.json
-- (the PUT body is prefix .. id .. suffix, so the body's id equals the URL's id).
-- done() prints one line "BENCH_JSON {...}" with the counts and latency percentiles (microseconds).

local mode = os.getenv("BENCH_MODE") or "read"
local dir = os.getenv("BENCH_DIR") or "."
local base = os.getenv("BENCH_PREFIX") or "/fhir"

local function slurp(path)
  local f = assert(io.open(path, "rb"))
  local s = f:read("*a")
  f:close()
  return s
end

local ids = {}
for line in io.lines(dir .. "/ids.txt") do
  if #line > 0 then ids[#ids + 1] = line end
end
local create_body = slurp(dir .. "/create.json")
local update_prefix = slurp(dir .. "/update_prefix.json")
local update_suffix = slurp(dir .. "/update_suffix.json")
local json = { ["Content-Type"] = "application/fhir+json", ["Accept"] = "application/fhir+json" }
local accept = { ["Accept"] = "application/fhir+json" }

local counter = 0
function setup(thread)
  counter = counter + 1
  thread:set("seed", counter)
end

function init(args)
  math.randomseed(os.time() * 1000 + (seed or 0))
end

function request()
  local id = ids[math.random(#ids)]
  if mode == "create" then
    return wrk.format("POST", base .. "/Patient", json, create_body)
  elseif mode == "update" then
    return wrk.format("PUT", base .. "/Patient/" .. id, json, update_prefix .. id .. update_suffix)
  end
  return wrk.format("GET", base .. "/Patient/" .. id, accept)
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'BENCH_JSON {"requests":%d,"duration_us":%d,"bytes":%d,"errors_connect":%d,"errors_read":%d,' ..
    '"errors_write":%d,"errors_status":%d,"errors_timeout":%d,"lat_mean_us":%.1f,"lat_p50_us":%d,' ..
    '"lat_p90_us":%d,"lat_p99_us":%d,"lat_max_us":%d}\n',
    summary.requests, summary.duration, summary.bytes, e.connect, e.read, e.write, e.status, e.timeout,
    latency.mean, latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max))
end
