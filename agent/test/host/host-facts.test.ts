import { execFileSync } from "node:child_process";
import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { readFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import fc from "fast-check";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  HOST_LABEL_KEYS,
  hostLabels,
  kubernetesArch,
  parseOsRelease,
  readHostFacts,
  sanitizeLabelValue,
} from "../../src/host/host-facts.ts";

// Written out here (not imported) so the tests check the implementation against the
// Kubernetes rules, not against itself.
const K8S_LABEL_VALUE = /^(?:[A-Za-z0-9](?:[-A-Za-z0-9_.]*[A-Za-z0-9])?)?$/;
const K8S_LABEL_KEY = /^(?:[a-z0-9](?:[-a-z0-9]*[a-z0-9])?(?:\.[a-z0-9](?:[-a-z0-9]*[a-z0-9])?)*\/)?[A-Za-z0-9](?:[-A-Za-z0-9_.]*[A-Za-z0-9])?$/;
const isValidValue = (v: string): boolean => v.length <= 63 && K8S_LABEL_VALUE.test(v);

let tmp: string;
beforeAll(async () => {
  tmp = await mkdtemp(path.join(os.tmpdir(), "pp-host-facts-"));
});
afterAll(async () => {
  await rm(tmp, { recursive: true, force: true });
});

describe("readHostFacts on this host", () => {
  it("matches what the system tools report", async () => {
    const facts = await readHostFacts();
    // Sourcing os-release with sh is the reference reading of the file (os-release(5)).
    const osId = execFileSync("sh", ["-c", '. /etc/os-release; printf "%s-%s" "$ID" "$VERSION_ID"'], { encoding: "utf8" });
    const pretty = execFileSync("sh", ["-c", '. /etc/os-release; printf "%s" "$PRETTY_NAME"'], { encoding: "utf8" });
    expect(facts.os).toBe(osId);
    expect(facts.osPrettyName).toBe(pretty);
    expect(facts.kernel).toBe(execFileSync("uname", ["-r"], { encoding: "utf8" }).trim());
    expect(facts.hostname).toBe(execFileSync("uname", ["-n"], { encoding: "utf8" }).trim());
    const machine = execFileSync("uname", ["-m"], { encoding: "utf8" }).trim();
    const expectedArch = ({ x86_64: "amd64", aarch64: "arm64", riscv64: "riscv64", s390x: "s390x", ppc64le: "ppc64le" } as Record<string, string>)[machine];
    expect(expectedArch, `uname -m ${machine} not in the test's table`).toBeDefined();
    expect(facts.arch).toBe(expectedArch);
    expect(facts.bootId).toBe(readFileSync("/proc/sys/kernel/random/boot_id", "utf8").trim());
    expect(facts.bootId).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/);
  });

  it("produces valid Kubernetes labels for this host", async () => {
    const facts = await readHostFacts();
    const labels = hostLabels(facts);
    expect(Object.keys(labels).sort()).toEqual(
      ["probepilot.io/arch", "probepilot.io/hostname", "probepilot.io/kernel", "probepilot.io/os"].sort(),
    );
    for (const [k, v] of Object.entries(labels)) {
      expect(k, k).toMatch(K8S_LABEL_KEY);
      expect(isValidValue(v), `${k}=${v}`).toBe(true);
    }
    // This host's values are already valid, so they must pass through unchanged.
    expect(labels["probepilot.io/kernel"]).toBe(os.release());
    expect(labels["probepilot.io/os"]).toBe(facts.os);
  });
});

describe("readHostFacts on fixture roots", () => {
  it("falls back to /usr/lib/os-release, then to os.platform(), and omits an unreadable boot id", async () => {
    const vendorOnly = path.join(tmp, "vendor-only");
    await mkdir(path.join(vendorOnly, "usr/lib"), { recursive: true });
    await writeFile(path.join(vendorOnly, "usr/lib/os-release"), 'ID=fedora\nVERSION_ID="41"\nPRETTY_NAME="Fedora Linux 41 (Forty One)"\n');
    const a = await readHostFacts({ rootDir: vendorOnly, procRoot: path.join(tmp, "no-proc") });
    expect(a.os).toBe("fedora-41");
    expect(a.osPrettyName).toBe("Fedora Linux 41 (Forty One)");
    expect(a.bootId).toBeUndefined();
    expect("bootId" in a).toBe(false);

    const empty = path.join(tmp, "empty");
    await mkdir(empty, { recursive: true });
    const b = await readHostFacts({ rootDir: empty, procRoot: empty });
    expect(b.os).toBe(os.platform());
    expect(b.osPrettyName).toBe(os.platform());
  });

  it("prefers /etc/os-release and uses ID alone for rolling distributions", async () => {
    const root = path.join(tmp, "arch");
    await mkdir(path.join(root, "etc"), { recursive: true });
    await mkdir(path.join(root, "usr/lib"), { recursive: true });
    await writeFile(path.join(root, "etc/os-release"), 'NAME="Arch Linux"\nPRETTY_NAME="Arch Linux"\nID=arch\nBUILD_ID=rolling\n');
    await writeFile(path.join(root, "usr/lib/os-release"), "ID=wrong\nVERSION_ID=1\n");
    const f = await readHostFacts({ rootDir: root });
    expect(f.os).toBe("arch");
    expect(f.osPrettyName).toBe("Arch Linux");
  });
});

describe("parseOsRelease", () => {
  it("handles quotes, escapes, comments and junk lines", () => {
    const text = [
      "# comment",
      'PRETTY_NAME="Ubuntu 24.04.1 LTS"',
      "ID=ubuntu",
      "ID_LIKE=debian",
      "VERSION_ID='24.04'",
      'VARIANT="say \\"hi\\" \\$HOME"',
      "not a key value line",
      "",
    ].join("\n");
    expect(parseOsRelease(text)).toEqual({
      PRETTY_NAME: "Ubuntu 24.04.1 LTS",
      ID: "ubuntu",
      ID_LIKE: "debian",
      VERSION_ID: "24.04",
      VARIANT: 'say "hi" $HOME',
    });
  });
});

describe("kubernetesArch", () => {
  it.each([
    ["x64", "LE", "amd64"],
    ["arm64", "LE", "arm64"],
    ["arm", "LE", "arm"],
    ["ia32", "LE", "386"],
    ["ppc64", "LE", "ppc64le"],
    ["ppc64", "BE", "ppc64"],
    ["s390x", "BE", "s390x"],
    ["riscv64", "LE", "riscv64"],
    ["mipsel", "LE", "mipsle"],
    ["loong64", "LE", "loong64"],
  ] as const)("%s (%s) → %s", (nodeArch, endian, expected) => {
    expect(kubernetesArch(nodeArch, endian)).toBe(expected);
  });
});

describe("sanitizeLabelValue", () => {
  it.each([
    ["6.18.44-fc-v782", "6.18.44-fc-v782"],
    ["debian-12", "debian-12"],
    ["", ""],
    ["Debian GNU/Linux 12 (bookworm)", "Debian_GNU_Linux_12__bookworm"],
    ["-leading.and.trailing-", "leading.and.trailing"],
    ["cciss/c0d0", "cciss_c0d0"],
    ["___", ""],
    ["héllo", "h_llo"],
    ["5.15.0-1051-azure+", "5.15.0-1051-azure"],
  ])("%j → %j", (input, expected) => {
    expect(sanitizeLabelValue(input)).toBe(expected);
  });

  it("truncates to 63 characters and re-trims an end exposed by the cut", () => {
    const host = `${"a".repeat(62)}.example.com`;
    expect(sanitizeLabelValue(host)).toBe("a".repeat(62));
    const long = "x".repeat(100);
    expect(sanitizeLabelValue(long)).toBe("x".repeat(63));
  });

  it("always yields a valid label value (property)", () => {
    fc.assert(
      fc.property(fc.string({ unit: "binary", maxLength: 200 }), (s) => {
        const v = sanitizeLabelValue(s);
        expect(isValidValue(v), JSON.stringify(v)).toBe(true);
        // Idempotent: a sanitized value is left alone.
        expect(sanitizeLabelValue(v)).toBe(v);
      }),
      { numRuns: 2000 },
    );
  });

  it("leaves already valid values unchanged (property)", () => {
    const valid = fc.stringMatching(/^[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$/);
    fc.assert(
      fc.property(valid, (v) => {
        expect(sanitizeLabelValue(v)).toBe(v);
      }),
    );
  });
});

describe("hostLabels", () => {
  it("sanitizes every value and keeps the fixed keys", () => {
    const labels = hostLabels({
      hostname: `${"node-".repeat(20)}.corp.example.com`,
      os: "opensuse-tumbleweed 20240101",
      osPrettyName: "ignored",
      kernel: "6.1.0+rt/custom",
      arch: "amd64",
    });
    expect(labels).toEqual({
      [HOST_LABEL_KEYS.hostname]: "node-".repeat(12) + "nod",
      [HOST_LABEL_KEYS.os]: "opensuse-tumbleweed_20240101",
      [HOST_LABEL_KEYS.kernel]: "6.1.0_rt_custom",
      [HOST_LABEL_KEYS.arch]: "amd64",
    });
    for (const v of Object.values(labels)) expect(isValidValue(v)).toBe(true);
  });
});
