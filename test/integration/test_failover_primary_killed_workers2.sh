#!/usr/bin/env bash
# Issue #4: test_failover_primary_killed.sh with workers = 2 (each worker keeps its own
# health state, probes and failover).
RG_TEST_WORKERS=2 exec bash "$(dirname "$0")/test_failover_primary_killed.sh"
