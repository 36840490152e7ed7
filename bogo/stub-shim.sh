#!/bin/sh
# A do-nothing BoGo shim: used only to make the runner enumerate its tests.
# It implements nothing, so every test is reported "unimplemented" (exit 89).
for a in "$@"; do
  [ "$a" = "-is-handshaker-supported" ] && { echo No; exit 0; }
done
exit 89
