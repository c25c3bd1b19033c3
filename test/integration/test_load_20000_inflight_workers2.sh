#!/usr/bin/env bash
# Issue #4: test_load_20000_inflight.sh with workers = 2 (each worker its own state table
# and socket pool; the kernel spreads the 80 connections over both).
RG_TEST_WORKERS=2 exec bash "$(dirname "$0")/test_load_20000_inflight.sh"
