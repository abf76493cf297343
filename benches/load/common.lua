-- What every wrk load script shares: a unique id prefix per thread, answers counted by status,
-- and a summary line. A script sets `path` and defines `body(prefix, n)`, then loads this file.
-- Environment: VIGIL_TENANT, VIGIL_INGEST_TOKEN.
local tenant = os.getenv("VIGIL_TENANT")
local token = os.getenv("VIGIL_INGEST_TOKEN")
local threads = {}
-- Per-thread globals (each wrk thread has its own Lua state; done() reads them with thread:get).
counter = 0
prefix = ""
statuses = {}

function setup(thread)
  thread:set("prefix", tostring(#threads + 1) .. "_" .. tostring(math.random(1, 1000000000)))
  table.insert(threads, thread)
end

function init(args)
  wrk.method = "POST"
  wrk.path = "/hooks/" .. tenant .. "/" .. hook
  wrk.headers["Authorization"] = "Bearer " .. token
  wrk.headers["Content-Type"] = "application/json"
end

function request()
  counter = counter + 1
  return wrk.format(nil, nil, nil, body(prefix, counter))
end

function response(status, headers, body)
  statuses[status] = (statuses[status] or 0) + 1
end

function done(summary, latency, requests)
  local total = {}
  for _, thread in ipairs(threads) do
    local s = thread:get("statuses")
    for code, n in pairs(s) do total[code] = (total[code] or 0) + n end
  end
  for code, n in pairs(total) do
    io.write(string.format("status %d: %d\n", code, n))
  end
  io.write(string.format("p50 %.2f ms, p99 %.2f ms, requests/s %.0f\n",
    latency:percentile(50) / 1000, latency:percentile(99) / 1000,
    summary.requests / (summary.duration / 1000000)))
end
