-- prtrace index, version 2: the compaction worker finds traces whose compacted object is
-- behind without scanning every trace.

CREATE INDEX traces_behind ON traces (updated_at) WHERE compacted_upto < last_server_seq;
