// A throwaway test CA with server and client certificates, made with the openssl CLI.
import { execFileSync } from 'node:child_process';
import path from 'node:path';

function openssl(dir, ...args) {
  execFileSync('openssl', args, { cwd: dir, stdio: 'pipe' });
}

/** Make ca.crt, server.{crt,key} (CN and SAN 127.0.0.1) and a client cert per CN in `clients`. */
export function makeCerts(dir, clients = []) {
  openssl(dir, 'req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '2', '-subj', '/CN=Ampgate Test CA',
    '-keyout', 'ca.key', '-out', 'ca.crt');
  const issue = (name, cn, ext) => {
    openssl(dir, 'req', '-newkey', 'rsa:2048', '-nodes', '-subj', `/CN=${cn}`, '-keyout', `${name}.key`, '-out', `${name}.csr`);
    openssl(dir, 'x509', '-req', '-in', `${name}.csr`, '-CA', 'ca.crt', '-CAkey', 'ca.key', '-CAcreateserial', '-days', '2',
      '-out', `${name}.crt`, ...(ext ? ['-extfile', ext] : []));
  };
  execFileSync('sh', ['-c', 'printf "subjectAltName=IP:127.0.0.1,DNS:localhost\\n" > san.ext'], { cwd: dir });
  issue('server', '127.0.0.1', 'san.ext');
  for (const cn of clients) issue(`client-${cn}`, cn);
  return (f) => path.join(dir, f);
}
