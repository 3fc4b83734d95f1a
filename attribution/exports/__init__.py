"""Snapshot exports (SPEC §7, §9, §12.10), in three parts that depend one way:

- `files`: rows read by keyset, CSV/XLSX writers with formula escaping, download path checks;
- `webhooks`: URL and header rules, the private-address guard, signing, guarded delivery;
- `jobs`: scheduling (validation and audit), the atomic claim, the job lifecycle and the worker
  pass that stamps `202_cronjob_logs` id 3.

The statuses below are the one vocabulary of an export's lifecycle, shared by all three.
"""
PENDING, PROCESSING, COMPLETED, FAILED = "pending", "processing", "completed", "failed"
