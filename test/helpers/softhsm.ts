/**
 * A throwaway SoftHSM2 token for HSM tests (/work/shared/INTEROP.md "SoftHSM2"): a config file
 * whose `directories.tokendir` is a temp dir, a token initialised with softhsm2-util, the flags
 * and environment Anvil needs to use it, and a pkcs11js view from the test's side so a test can
 * judge what is on the token (attributes of the private keys, an attempt to read CKA_VALUE) and
 * destroy a key under a running server.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import pkcs11js from 'pkcs11js';
import { describeRun, run } from '../interop/harness.js';

/** Debian's SoftHSM2 module. */
export const SOFTHSM_MODULE = '/usr/lib/softhsm/libsofthsm2.so';

export interface SoftHsm {
  confPath: string;
  tokenDir: string;
  label: string;
  pin: string;
  /** `--pkcs11-module … --pkcs11-token …` for `anvil serve`, `init` and `ca`. */
  args: string[];
  /** SOFTHSM2_CONF and ANVIL_PKCS11_PIN, for the server and CLI processes. */
  env: Record<string, string>;
}

/** Writes a SoftHSM2 config under `dir` and initialises a token labelled `label` (user PIN 1234). */
export async function createSoftHsm(dir: string, label = 'anvil'): Promise<SoftHsm> {
  const tokenDir = path.join(dir, 'tokens');
  await mkdir(tokenDir, { recursive: true });
  const confPath = path.join(dir, 'softhsm2.conf');
  await writeFile(confPath, `directories.tokendir = ${tokenDir}\nobjectstore.backend = file\nlog.level = ERROR\nslots.removable = false\n`);
  const pin = '1234';
  const init = await run('softhsm2-util', ['--init-token', '--free', '--label', label, '--pin', pin, '--so-pin', '5678'], {
    env: { SOFTHSM2_CONF: confPath },
    timeoutMs: 30_000,
  });
  if (init.code !== 0) throw new Error(`softhsm2-util --init-token failed\n${describeRun(init)}`);
  return {
    confPath,
    tokenDir,
    label,
    pin,
    args: ['--pkcs11-module', SOFTHSM_MODULE, '--pkcs11-token', label],
    env: { SOFTHSM2_CONF: confPath, ANVIL_PKCS11_PIN: pin },
  };
}

/** What the token says about one private key object. */
export interface TokenPrivateKey {
  label: string;
  idHex: string;
  sensitive: boolean;
  extractable: boolean;
  alwaysSensitive: boolean;
  neverExtractable: boolean;
  /** The PKCS#11 return code when reading CKA_VALUE, or `read` if the token handed the value out. */
  valueRead: string;
}

/** Runs `fn` with a logged-in R/W session on the token (SoftHSM reads SOFTHSM2_CONF at C_Initialize). */
export function withTokenSession<T>(hsm: SoftHsm, fn: (lib: pkcs11js.PKCS11, session: Buffer) => T): T {
  const previous = process.env.SOFTHSM2_CONF;
  process.env.SOFTHSM2_CONF = hsm.confPath;
  const lib = new pkcs11js.PKCS11();
  lib.load(SOFTHSM_MODULE);
  lib.C_Initialize();
  try {
    const slot = lib.C_GetSlotList(true).find((s) => lib.C_GetTokenInfo(s).label.trim() === hsm.label);
    if (!slot) throw new Error(`no token labelled ${hsm.label} in ${hsm.confPath}`);
    const session = lib.C_OpenSession(slot, pkcs11js.CKF_SERIAL_SESSION | pkcs11js.CKF_RW_SESSION);
    try {
      lib.C_Login(session, pkcs11js.CKU_USER, hsm.pin);
      try {
        return fn(lib, session);
      } finally {
        lib.C_Logout(session);
      }
    } finally {
      lib.C_CloseSession(session);
    }
  } finally {
    lib.C_Finalize();
    if (previous === undefined) delete process.env.SOFTHSM2_CONF;
    else process.env.SOFTHSM2_CONF = previous;
  }
}

function findPrivateKeys(lib: pkcs11js.PKCS11, session: Buffer): Buffer[] {
  lib.C_FindObjectsInit(session, [{ type: pkcs11js.CKA_CLASS, value: pkcs11js.CKO_PRIVATE_KEY }]);
  try {
    return lib.C_FindObjects(session, 100);
  } finally {
    lib.C_FindObjectsFinal(session);
  }
}

const bool = (value: unknown): boolean => Buffer.isBuffer(value) && value.length > 0 && value[0] !== 0;

/** Every private key object on the token, with its protection attributes and a CKA_VALUE read attempt. */
export function tokenPrivateKeys(hsm: SoftHsm): TokenPrivateKey[] {
  return withTokenSession(hsm, (lib, session) =>
    findPrivateKeys(lib, session).map((handle) => {
      const [label, id, sensitive, extractable, alwaysSensitive, neverExtractable] = lib.C_GetAttributeValue(session, handle, [
        { type: pkcs11js.CKA_LABEL },
        { type: pkcs11js.CKA_ID },
        { type: pkcs11js.CKA_SENSITIVE },
        { type: pkcs11js.CKA_EXTRACTABLE },
        { type: pkcs11js.CKA_ALWAYS_SENSITIVE },
        { type: pkcs11js.CKA_NEVER_EXTRACTABLE },
      ]);
      let valueRead = 'read';
      try {
        lib.C_GetAttributeValue(session, handle, [{ type: pkcs11js.CKA_VALUE }]);
      } catch (error) {
        valueRead = (error as Error).message;
      }
      return {
        label: Buffer.from(label!.value as Buffer).toString('utf8'),
        idHex: Buffer.from(id!.value as Buffer).toString('hex'),
        sensitive: bool(sensitive!.value),
        extractable: bool(extractable!.value),
        alwaysSensitive: bool(alwaysSensitive!.value),
        neverExtractable: bool(neverExtractable!.value),
        valueRead,
      };
    }),
  );
}

/** Destroys the private key object with this CKA_LABEL and CKA_ID (C_DestroyObject); returns how many went. */
export function destroyTokenKey(hsm: SoftHsm, label: string, idHex: string): number {
  return withTokenSession(hsm, (lib, session) => {
    lib.C_FindObjectsInit(session, [
      { type: pkcs11js.CKA_CLASS, value: pkcs11js.CKO_PRIVATE_KEY },
      { type: pkcs11js.CKA_LABEL, value: label },
      { type: pkcs11js.CKA_ID, value: Buffer.from(idHex, 'hex') },
    ]);
    let handles: Buffer[];
    try {
      handles = lib.C_FindObjects(session, 10);
    } finally {
      lib.C_FindObjectsFinal(session);
    }
    for (const handle of handles) lib.C_DestroyObject(session, handle);
    return handles.length;
  });
}
