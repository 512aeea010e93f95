ALTER TABLE "agents" ADD COLUMN "status_instance" text;--> statement-breakpoint
ALTER TABLE "agents" ADD COLUMN "status_seq" integer DEFAULT -1 NOT NULL;