-- wrk script: every request is a stock ESP32 HTTPUpdate poll from the next
-- of N whitelisted devices (MACs as internal/loadtest/genrepo makes them),
-- on a new connection (Connection: close), as devices do; with
-- KEEPALIVE=1 on kept-alive connections instead.
local n = tonumber(os.getenv("DEVICES") or "10000")
local version = os.getenv("VERSION") or "2.1.0"
local auth = os.getenv("AUTH") -- an Authorization header value, e.g. "Basic ..."
local keepalive = os.getenv("KEEPALIVE") == "1"
local counter = 0
-- Each thread polls every THREADS-th device from its own offset, so that
-- the threads together poll each device in turn.
local stride = tonumber(os.getenv("THREADS") or "1")
local threads = 0
setup = function(thread)
  thread:set("offset", threads)
  threads = threads + 1
end

request = function()
  counter = counter + 1
  local i = ((counter - 1) * stride + (offset or 0)) % n
  local mac = string.format("24:0A:C4:%02X:%02X:%02X", math.floor(i / 65536) % 256, math.floor(i / 256) % 256, i % 256)
  local headers = {
    ["User-Agent"] = "ESP32-http-Update",
    ["x-ESP32-STA-MAC"] = mac,
    ["x-ESP32-AP-MAC"] = mac,
    ["x-ESP32-free-space"] = "1966080",
    ["x-ESP32-sketch-size"] = "917504",
    ["x-ESP32-sketch-md5"] = "0123456789abcdef0123456789abcdef",
    ["x-ESP32-chip-size"] = "4194304",
    ["x-ESP32-sdk-version"] = "v4.4.5",
    ["x-ESP32-mode"] = "sketch",
    ["x-ESP32-version"] = version,
    ["Cache-Control"] = "no-cache",
  }
  if auth and auth ~= "" then
    headers["Authorization"] = auth
  end
  if not keepalive then
    headers["Connection"] = "close"
  end
  return wrk.format("GET", "/update", headers)
end
