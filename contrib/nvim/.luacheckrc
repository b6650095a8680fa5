-- luacheck's settings for the plugin and its specs (`luacheck .` here):
-- Neovim's LuaJIT with `vim` (whose option tables the plugin sets), busted
-- in the specs.
std = "luajit"
globals = { "vim" }
max_line_length = 120
files["spec/"] = { std = "+busted" }
files["spec/runner.lua"] = { globals = { "arg" } }
