#!/bin/sh
# make check wrapper: summary.py --self-test against bogo/fixtures.
exec python3 "${top_srcdir:-.}/bogo/summary.py" --self-test
