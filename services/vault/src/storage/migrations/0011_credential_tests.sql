-- A key remembers when it was last tested live and how that went, so the console can show
-- it on every visit. Both NULL until the first test; the outcome is a TestOutcome name
-- (ok, key_invalid, no_model_access, out_of_credit, unreachable).
ALTER TABLE credentials ADD COLUMN last_tested_at INTEGER;
ALTER TABLE credentials ADD COLUMN last_test_outcome TEXT;
