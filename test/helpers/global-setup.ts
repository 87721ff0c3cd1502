// Placeholder: the AWS harness (moto_server start/stop, CI=true enforcement) lands here.
export default async function setup(): Promise<void> {}
