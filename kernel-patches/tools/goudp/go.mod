module github.com/xenradclock/xenradclock/kernel-patches/tools/goudp

go 1.26.0
