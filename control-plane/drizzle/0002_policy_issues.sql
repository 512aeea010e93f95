ALTER TABLE "agents" ADD COLUMN "invalid_policies" jsonb DEFAULT '{}'::jsonb NOT NULL;--> statement-breakpoint
ALTER TABLE "agents" ADD COLUMN "policy_conflicts" jsonb DEFAULT '[]'::jsonb NOT NULL;