CREATE TABLE "histogram_snapshots" (
	"series_id" bigint NOT NULL,
	"ts" bigint NOT NULL,
	"buckets" bigint[] NOT NULL,
	"sum" double precision NOT NULL,
	"count" bigint NOT NULL,
	CONSTRAINT "histogram_snapshots_series_id_ts_pk" PRIMARY KEY("series_id","ts")
);
--> statement-breakpoint
CREATE TABLE "ingest_ledger" (
	"agent_id" text NOT NULL,
	"probe" text NOT NULL,
	"seq" bigint NOT NULL,
	"tenant_id" text NOT NULL,
	"samples" integer NOT NULL,
	"ingested_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "ingest_ledger_agent_id_probe_seq_pk" PRIMARY KEY("agent_id","probe","seq")
);
--> statement-breakpoint
CREATE TABLE "profile_stacks" (
	"tenant_id" text NOT NULL,
	"agent_id" text NOT NULL,
	"ts" bigint NOT NULL,
	"pid" integer NOT NULL,
	"comm" text NOT NULL,
	"stack" text NOT NULL,
	"count" integer NOT NULL
);
--> statement-breakpoint
CREATE TABLE "rollup_dirty" (
	"bucket" bigint PRIMARY KEY NOT NULL
);
--> statement-breakpoint
CREATE TABLE "rollup_state" (
	"tier" text PRIMARY KEY NOT NULL,
	"watermark" bigint NOT NULL
);
--> statement-breakpoint
CREATE TABLE "samples_1h" (
	"series_id" bigint NOT NULL,
	"bucket" bigint NOT NULL,
	"count" integer NOT NULL,
	"sum" double precision NOT NULL,
	"min" double precision NOT NULL,
	"max" double precision NOT NULL,
	"last" double precision NOT NULL,
	CONSTRAINT "samples_1h_series_id_bucket_pk" PRIMARY KEY("series_id","bucket")
);
--> statement-breakpoint
CREATE TABLE "samples_1m" (
	"series_id" bigint NOT NULL,
	"bucket" bigint NOT NULL,
	"count" integer NOT NULL,
	"sum" double precision NOT NULL,
	"min" double precision NOT NULL,
	"max" double precision NOT NULL,
	"last" double precision NOT NULL,
	CONSTRAINT "samples_1m_series_id_bucket_pk" PRIMARY KEY("series_id","bucket")
);
--> statement-breakpoint
CREATE TABLE "series" (
	"id" bigserial PRIMARY KEY NOT NULL,
	"tenant_id" text NOT NULL,
	"agent_id" text NOT NULL,
	"probe" text NOT NULL,
	"metric" text NOT NULL,
	"kind" text NOT NULL,
	"unit" text,
	"labels" jsonb NOT NULL,
	"labels_key" text NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
CREATE TABLE "telemetry_events" (
	"id" bigserial PRIMARY KEY NOT NULL,
	"tenant_id" text NOT NULL,
	"agent_id" text NOT NULL,
	"probe" text NOT NULL,
	"name" text NOT NULL,
	"ts" bigint NOT NULL,
	"attrs" jsonb NOT NULL
);
--> statement-breakpoint
ALTER TABLE "series" ADD CONSTRAINT "series_tenant_id_tenants_id_fk" FOREIGN KEY ("tenant_id") REFERENCES "public"."tenants"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
CREATE INDEX "ingest_ledger_ingested_at_idx" ON "ingest_ledger" USING btree ("ingested_at");--> statement-breakpoint
CREATE INDEX "profile_stacks_tenant_agent_ts_idx" ON "profile_stacks" USING btree ("tenant_id","agent_id","ts");--> statement-breakpoint
CREATE INDEX "samples_1h_bucket_idx" ON "samples_1h" USING btree ("bucket");--> statement-breakpoint
CREATE INDEX "samples_1m_bucket_idx" ON "samples_1m" USING btree ("bucket");--> statement-breakpoint
CREATE UNIQUE INDEX "series_identity_idx" ON "series" USING btree ("tenant_id","agent_id","probe","metric","labels_key");--> statement-breakpoint
CREATE INDEX "series_tenant_metric_idx" ON "series" USING btree ("tenant_id","metric");--> statement-breakpoint
CREATE INDEX "telemetry_events_tenant_ts_idx" ON "telemetry_events" USING btree ("tenant_id","ts");--> statement-breakpoint
CREATE INDEX "telemetry_events_tenant_name_ts_idx" ON "telemetry_events" USING btree ("tenant_id","name","ts");