"""Spark jobs: pure DataFrame transforms plus a thin main(--ds, --conf) each."""
