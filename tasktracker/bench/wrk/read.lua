-- GET one fixed path and query (a page of the list) with the bearer token.
-- Argument: the path, with its query.
local common = dofile(debug.getinfo(1, "S").source:match("^@(.*/)") .. "common.lua")

function init(args)
   wrk.path = assert(args[1], "give the path as the script's argument")
   wrk.headers["Authorization"] = common.authorization
end
