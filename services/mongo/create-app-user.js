// Run by the mongo image once, when it initialises an empty data volume, as the root user it
// made from MONGO_INITDB_ROOT_*: the application's own user, readWrite on its database only.
// The root credentials are for setup and administration; no Switchboard process uses them.
const dbName = process.env.MONGO_DB || "switchboard";
const user = process.env.MONGO_APP_USER;
const pwd = process.env.MONGO_APP_PASSWORD;
if (!user || !pwd) {
  throw new Error("MONGO_APP_USER and MONGO_APP_PASSWORD are required");
}
db.getSiblingDB(dbName).createUser({
  user: user,
  pwd: pwd,
  roles: [{ role: "readWrite", db: dbName }],
});
