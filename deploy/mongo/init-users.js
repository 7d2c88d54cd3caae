// Each service gets a MongoDB user that may read and write its own database and nothing else
// (decision 0008): one service's credentials never open another's data.
//
// Compose runs it once, as the administrator, when the data volume is empty
// (/docker-entrypoint-initdb.d). A ministry's DBA runs it the same way:
//   MONGO_PASSWORD_ACCOUNTS=… MONGO_PASSWORD_FORMS=… MONGO_PASSWORD_APPROVALS=… \
//   MONGO_PASSWORD_NOTIFICATIONS=… MONGO_PASSWORD_PERSONNEL=… mongosh "mongodb://admin@host/admin" deploy/mongo/init-users.js
// Each service then connects with mongodb://<service>:<password>@host/moha_<service>?authSource=moha_<service>.
for (const service of ["accounts", "forms", "approvals", "notifications", "personnel"]) {
  const password = process.env[`MONGO_PASSWORD_${service.toUpperCase()}`];
  if (!password) {
    throw new Error(`MONGO_PASSWORD_${service.toUpperCase()} is not set`);
  }
  const database = db.getSiblingDB(`moha_${service}`);
  if (database.getUser(service)) {
    database.updateUser(service, { pwd: password, roles: [{ role: "readWrite", db: `moha_${service}` }] });
  } else {
    database.createUser({ user: service, pwd: password, roles: [{ role: "readWrite", db: `moha_${service}` }] });
  }
}
