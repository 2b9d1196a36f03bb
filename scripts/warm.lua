-- wrk script: one pass over the fleet (scripts/poll.lua's requests, on
-- kept-alive connections) whose threads stop once every device has polled (wrk itself runs for
-- its -d duration), so
-- that the measured rounds see the fleet as a server that has run for a
-- while does: every device already checked in.
dofile("scripts/poll.lua")
local n = tonumber(os.getenv("DEVICES") or "10000") / tonumber(os.getenv("THREADS") or "1")
local seen = 0
response = function()
  seen = seen + 1
  if seen >= n then
    wrk.thread:stop()
  end
end
