// An Apple configuration profile (.mobileconfig) with one mail account,
// made in the browser from the password just shown, so that the password
// never travels anywhere but to the person's device.

/** @param {string} s */
const x = (s) => String(s).replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');

const uuid = () => crypto.randomUUID().toUpperCase();

/**
 * @param {{address: string, user: string, password: string, name: string,
 *   mail: {imap: {host: string, port: number}, smtp: {host: string, port: number}}}} a
 */
export function mobileconfig(a) {
  const s = (/** @type {string} */ k, /** @type {string} */ v) => `<key>${k}</key><string>${x(v)}</string>`;
  const i = (/** @type {string} */ k, /** @type {number} */ v) => `<key>${k}</key><integer>${v}</integer>`;
  const b = (/** @type {string} */ k, /** @type {boolean} */ v) => `<key>${k}</key><${v}/>`;
  const id = `devicepass.${a.address.replace(/[^\w.-]/g, '-')}`;
  return `<?xml version="1.0" encoding="UTF-8"?>
<!DOCTYPE plist PUBLIC "-//Apple//DTD PLIST 1.0//EN" "http://www.apple.com/DTDs/PropertyList-1.0.dtd">
<plist version="1.0"><dict>
${s('PayloadType', 'Configuration')}${i('PayloadVersion', 1)}${s('PayloadIdentifier', id)}${s('PayloadUUID', uuid())}
${s('PayloadDisplayName', `${a.address} (${a.name})`)}
<key>PayloadContent</key><array><dict>
${s('PayloadType', 'com.apple.mail.managed')}${i('PayloadVersion', 1)}${s('PayloadIdentifier', `${id}.mail`)}${s('PayloadUUID', uuid())}
${s('PayloadDisplayName', a.address)}${s('EmailAccountType', 'EmailTypeIMAP')}${s('EmailAddress', a.address)}
${s('IncomingMailServerHostName', a.mail.imap.host)}${i('IncomingMailServerPortNumber', a.mail.imap.port)}${b('IncomingMailServerUseSSL', true)}
${s('IncomingMailServerAuthentication', 'EmailAuthPassword')}${s('IncomingMailServerUsername', a.user)}${s('IncomingPassword', a.password)}
${s('OutgoingMailServerHostName', a.mail.smtp.host)}${i('OutgoingMailServerPortNumber', a.mail.smtp.port)}${b('OutgoingMailServerUseSSL', true)}
${s('OutgoingMailServerAuthentication', 'EmailAuthPassword')}${s('OutgoingMailServerUsername', a.user)}${s('OutgoingPassword', a.password)}
</dict></array></dict></plist>
`;
}
