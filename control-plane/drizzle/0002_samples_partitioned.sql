-- Raw samples: (series, time in Unix ms, value), range-partitioned by day with native
-- declarative partitioning. Written with COPY by the ingesters; partitions are created
-- ahead and dropped by retention (control-plane/src/workers/partition-manager.ts).
-- Not declared in the drizzle schema: drizzle-kit cannot express PARTITION BY.
CREATE TABLE "samples" (
	"series_id" bigint NOT NULL,
	"ts" bigint NOT NULL,
	"value" double precision NOT NULL
) PARTITION BY RANGE ("ts");
--> statement-breakpoint
-- Partitioned index: each partition gets its own (series_id, ts) index, the shape every range query reads.
CREATE INDEX "samples_series_ts_idx" ON "samples" ("series_id", "ts");
