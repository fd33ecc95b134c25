// The JS v3.2 SDK (@azure/cognitiveservices-computervision) against an openread server:
// readInStream(file) -> operationLocation, then getReadResult polling. Prints the result JSON.
// Usage: node read.js ENDPOINT KEY FILE
"use strict";
const fs = require("fs");
const { ComputerVisionClient } = require("@azure/cognitiveservices-computervision");
const { ApiKeyCredentials } = require("@azure/ms-rest-js");

async function main() {
  const [endpoint, key, file] = process.argv.slice(2);
  const credentials = new ApiKeyCredentials({ inHeader: { "Ocp-Apim-Subscription-Key": key } });
  const client = new ComputerVisionClient(credentials, endpoint);
  const submitted = await client.readInStream(() => fs.createReadStream(file));
  const id = submitted.operationLocation.split("/").pop();
  const deadline = Date.now() + 120000;
  let result = await client.getReadResult(id);
  while (result.status === "notStarted" || result.status === "running") {
    if (Date.now() > deadline) throw new Error("timed out");
    await new Promise((resolve) => setTimeout(resolve, 300));
    result = await client.getReadResult(id);
  }
  const pages = result.analyzeResult.readResults.map((page) => ({
    page: page.page,
    unit: page.unit,
    lines: page.lines.map((line) => line.text),
  }));
  console.log(JSON.stringify({ status: result.status, location: submitted.operationLocation, pages }));
}

main().catch((error) => {
  console.error(error.stack || String(error));
  process.exit(1);
});
