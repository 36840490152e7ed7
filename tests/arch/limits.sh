#!/bin/sh
# make check: the layering limits of docs/architecture.md (tests/arch/metrics.sh --check).
exec bash "${top_srcdir:-.}/tests/arch/metrics.sh" --check
