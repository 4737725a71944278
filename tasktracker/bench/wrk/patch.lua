-- PATCH /api/tasks/<id> with If-Match, changing the priority. Each thread walks its own
-- file of "id version new-priority" lines in order, one request a line, so that no id is
-- sent twice and no If-Match is stale. Past the end of its file a thread starts again
-- (those requests are stale, answered 412) and counts them in `reused`.
-- Argument: the files' path with %d for the thread's number (1, 2, ...).
local common = dofile(debug.getinfo(1, "S").source:match("^@(.*/)") .. "common.lua")
local rows
local position = 0
reused = 0

function init(args)
   rows = common.rows(string.format(args[1], thread_number))
end

function request()
   position = position + 1
   if position > #rows then
      reused = reused + 1
   end
   local id, version, priority = unpack(rows[(position - 1) % #rows + 1])
   local headers = {
      ["Authorization"] = common.authorization,
      ["Content-Type"] = "application/json",
      ["If-Match"] = '"' .. version .. '"',
   }
   return wrk.format("PATCH", "/api/tasks/" .. id, headers, '{"priority":' .. priority .. "}")
end
