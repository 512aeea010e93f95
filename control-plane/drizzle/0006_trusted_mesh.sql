CREATE TYPE "public"."nats_identity_kind" AS ENUM('operator', 'system', 'platform', 'tenant');--> statement-breakpoint
ALTER TYPE "public"."agent_status" ADD VALUE 'revoked';--> statement-breakpoint
CREATE TABLE "nats_identities" (
	"id" text PRIMARY KEY NOT NULL,
	"kind" "nats_identity_kind" NOT NULL,
	"tenant_id" text,
	"public_key" text NOT NULL,
	"seed_sealed" text NOT NULL,
	"signing_public_key" text NOT NULL,
	"signing_seed_sealed" text NOT NULL,
	"revocations" jsonb DEFAULT '{}'::jsonb NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
-- Agents enrolled before NKEY identities have no key: they cannot be issued NATS credentials and enroll again.
ALTER TABLE "agents" ADD COLUMN "nats_public_key" text NOT NULL DEFAULT '';--> statement-breakpoint
ALTER TABLE "agents" ALTER COLUMN "nats_public_key" DROP DEFAULT;--> statement-breakpoint
ALTER TABLE "agents" ADD COLUMN "creds_expires_at" timestamp with time zone;--> statement-breakpoint
ALTER TABLE "agents" ADD COLUMN "revoked_at" timestamp with time zone;--> statement-breakpoint
ALTER TABLE "enrollment_tokens" ADD COLUMN "max_uses" integer;--> statement-breakpoint
ALTER TABLE "nats_identities" ADD CONSTRAINT "nats_identities_tenant_id_tenants_id_fk" FOREIGN KEY ("tenant_id") REFERENCES "public"."tenants"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
CREATE UNIQUE INDEX "nats_identities_tenant_idx" ON "nats_identities" USING btree ("tenant_id");--> statement-breakpoint
CREATE UNIQUE INDEX "agents_nats_public_key_idx" ON "agents" USING btree ("nats_public_key") WHERE nats_public_key <> '';--> statement-breakpoint
ALTER TABLE "agents" DROP COLUMN "agent_key_hash";