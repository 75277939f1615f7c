// Independent verifier for gate's keyless bundles: npm @sigstore/verify, unmodified.
// stdin: [{bundle, trustedRoot, identity, issuer, artifact?}] (artifact base64, message signatures only)
// stdout: [{ok: true, identity, issuer} | {ok: false, code, message}], one per job, same order.
import { readFileSync } from 'node:fs';
import { bundleFromJSON } from '@sigstore/bundle';
import { TrustedRoot } from '@sigstore/protobuf-specs';
import { Verifier, toSignedEntity, toTrustMaterial } from '@sigstore/verify';

function verify(job) {
  try {
    const trust = toTrustMaterial(TrustedRoot.fromJSON(job.trustedRoot));
    const verifier = new Verifier(trust, { tlogThreshold: 1, ctlogThreshold: 1, timestampThreshold: 1 });
    const artifact = job.artifact ? Buffer.from(job.artifact, 'base64') : undefined;
    const entity = toSignedEntity(bundleFromJSON(job.bundle), artifact);
    const policy = { subjectAlternativeName: job.identity, extensions: { issuer: job.issuer } };
    const signer = verifier.verify(entity, policy);
    return { ok: true, identity: signer.identity?.subjectAlternativeName, issuer: signer.identity?.extensions?.issuer };
  } catch (error) {
    return { ok: false, code: error.code ?? error.name, message: error.message };
  }
}

const jobs = JSON.parse(readFileSync(0, 'utf8'));
process.stdout.write(JSON.stringify(jobs.map(verify)));
