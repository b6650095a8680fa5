-- Runs the specs inside Neovim with busted, printing TAP:
--   nvim -u NONE --headless -l spec/runner.lua [SPEC_FILE_OR_FOLDER]
-- BUSTED_LUA_DIR names busted's Lua folder (Debian's lua-busted:
-- /usr/share/lua/5.1, the default); the C modules it loads come from the
-- matching lib folder, found for this machine's architecture. The end-to-end spec needs HPM_TEST_WORKSPACE (a
-- synced workspace), HPMCTL and HPM_SOCKET: tests/tests/editors.rs sets
-- them. With HPM_NVIM_API=0.9 the plugin is loaded without the Lua API
-- newer than Neovim 0.9 and without the calls that would block the editor
-- (spec/confined.lua). Exits non-zero when a spec fails.
local here = vim.fn.fnamemodify(debug.getinfo(1, "S").source:sub(2), ":p:h")
local plugin = vim.fn.fnamemodify(here, ":h")
local lua_dir = os.getenv("BUSTED_LUA_DIR") or "/usr/share/lua/5.1"
package.path = table.concat({
  lua_dir .. "/?.lua",
  lua_dir .. "/?/init.lua",
  package.path,
}, ";")
-- The matching C modules: under lib/<multiarch triplet>/lua/<version> on
-- Debian (whatever the machine), else lib/lua/<version>.
local prefix, version = lua_dir:match("^(.*)/share/lua/(.*)$")
if prefix then
  local lib_dirs = vim.fn.glob(prefix .. "/lib/*/lua/" .. version, false, true)
  table.insert(lib_dirs, prefix .. "/lib/lua/" .. version)
  for _, lib_dir in ipairs(lib_dirs) do
    package.cpath = lib_dir .. "/?.so;" .. package.cpath
  end
end

vim.opt.runtimepath:prepend(plugin)
if os.getenv("HPM_NVIM_API") == "0.9" then
  local api = dofile(here .. "/confined.lua")
  io.stdout:write("# the API of Neovim 0.9: without " .. table.concat(api.hidden, ", ") .. "\n")
  api.load(plugin .. "/plugin/hpm.lua")()
else
  vim.cmd("runtime plugin/hpm.lua")
end

-- `nvim -l runner.lua X`: X is `arg[1]`; busted reads its own options
-- from the global `arg`.
local target = (_G.arg and _G.arg[1]) or here
arg = { "--output", "TAP", "--pattern", "_spec", target }
require("busted.runner")({ standalone = false })
