CREATE TABLE "probe_versions" (
	"probe_id" text NOT NULL,
	"tenant_id" text NOT NULL,
	"version" integer NOT NULL,
	"spec_hash" text NOT NULL,
	"params" jsonb NOT NULL,
	"created_by" text NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "probe_versions_probe_id_version_pk" PRIMARY KEY("probe_id","version")
);
--> statement-breakpoint
CREATE TABLE "probes" (
	"id" text PRIMARY KEY NOT NULL,
	"tenant_id" text NOT NULL,
	"name" text NOT NULL,
	"kind" text NOT NULL,
	"description" text DEFAULT '' NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
CREATE TABLE "rollout_agent_transitions" (
	"id" bigserial PRIMARY KEY NOT NULL,
	"rollout_id" text NOT NULL,
	"agent_id" text NOT NULL,
	"wave" integer NOT NULL,
	"from_state" text,
	"to_state" text NOT NULL,
	"error" text,
	"at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
CREATE TABLE "rollout_agents" (
	"rollout_id" text NOT NULL,
	"agent_id" text NOT NULL,
	"tenant_id" text NOT NULL,
	"wave" integer NOT NULL,
	"state" text NOT NULL,
	"membership" text NOT NULL,
	"error" text,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "rollout_agents_rollout_id_agent_id_pk" PRIMARY KEY("rollout_id","agent_id")
);
--> statement-breakpoint
CREATE TABLE "rollouts" (
	"id" text PRIMARY KEY NOT NULL,
	"tenant_id" text NOT NULL,
	"probe_id" text NOT NULL,
	"probe_name" text NOT NULL,
	"kind" text NOT NULL,
	"version" integer NOT NULL,
	"spec_hash" text NOT NULL,
	"params" jsonb NOT NULL,
	"selector" text NOT NULL,
	"strategy" jsonb NOT NULL,
	"policy_id" text NOT NULL,
	"state" text NOT NULL,
	"state_reason" text,
	"current_wave" integer DEFAULT 0 NOT NULL,
	"phase" text,
	"cuts" jsonb NOT NULL,
	"canary" jsonb NOT NULL,
	"wave_times" jsonb NOT NULL,
	"gate_deadline" timestamp with time zone,
	"bake_ends_at" timestamp with time zone,
	"health" jsonb,
	"revision" integer DEFAULT 0 NOT NULL,
	"stage_version" integer DEFAULT 1 NOT NULL,
	"kv_stage_version" integer DEFAULT 0 NOT NULL,
	"superseded_by" text,
	"created_by" text NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL,
	"completed_at" timestamp with time zone
);
--> statement-breakpoint
ALTER TABLE "probe_versions" ADD CONSTRAINT "probe_versions_probe_id_probes_id_fk" FOREIGN KEY ("probe_id") REFERENCES "public"."probes"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "probe_versions" ADD CONSTRAINT "probe_versions_tenant_id_tenants_id_fk" FOREIGN KEY ("tenant_id") REFERENCES "public"."tenants"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "probes" ADD CONSTRAINT "probes_tenant_id_tenants_id_fk" FOREIGN KEY ("tenant_id") REFERENCES "public"."tenants"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "rollout_agent_transitions" ADD CONSTRAINT "rollout_agent_transitions_rollout_id_rollouts_id_fk" FOREIGN KEY ("rollout_id") REFERENCES "public"."rollouts"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "rollout_agents" ADD CONSTRAINT "rollout_agents_rollout_id_rollouts_id_fk" FOREIGN KEY ("rollout_id") REFERENCES "public"."rollouts"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "rollouts" ADD CONSTRAINT "rollouts_tenant_id_tenants_id_fk" FOREIGN KEY ("tenant_id") REFERENCES "public"."tenants"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "rollouts" ADD CONSTRAINT "rollouts_probe_id_probes_id_fk" FOREIGN KEY ("probe_id") REFERENCES "public"."probes"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
CREATE UNIQUE INDEX "probe_versions_spec_idx" ON "probe_versions" USING btree ("probe_id","spec_hash");--> statement-breakpoint
CREATE UNIQUE INDEX "probes_tenant_name_idx" ON "probes" USING btree ("tenant_id","name");--> statement-breakpoint
CREATE INDEX "rollout_agent_transitions_rollout_idx" ON "rollout_agent_transitions" USING btree ("rollout_id","agent_id");--> statement-breakpoint
CREATE INDEX "rollout_agents_state_idx" ON "rollout_agents" USING btree ("rollout_id","state");--> statement-breakpoint
CREATE INDEX "rollouts_tenant_created_idx" ON "rollouts" USING btree ("tenant_id","created_at");--> statement-breakpoint
CREATE UNIQUE INDEX "rollouts_one_active_per_kind_idx" ON "rollouts" USING btree ("tenant_id","kind") WHERE state in ('running', 'paused', 'rolling_back');