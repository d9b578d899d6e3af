// Prints the scrypt hash of the password read from standard input, for a USERS_FILE entry:
//   printf %s 'a long passphrase' | node src/hash-password.mjs
// (read from stdin, so the password stays out of the shell history and the process list).
import { hashPassword } from './passwords.mjs';

let input = '';
process.stdin.setEncoding('utf8');
for await (const chunk of process.stdin) input += chunk;
const password = input.replace(/\r?\n$/, '');
if (!password) {
  console.error('hash-password: give the password on standard input');
  process.exit(2);
}
console.log(await hashPassword(password));
