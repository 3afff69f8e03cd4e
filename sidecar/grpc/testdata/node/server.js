// A grpc-js server of shop.inventory.v1.Inventory with reflection, for
// sidecar/grpc's live tests: @grpc/reflection (v1 and v1alpha), or
// grpc-node-server-reflection (v1alpha only, its own protobufjs). The .proto files are loaded at run time
// by @grpc/proto-loader, so the descriptors reflection serves are the ones
// protobufjs builds, as in any Node service that loads its protos.
//
// Usage: node server.js HOST:PORT [@grpc/reflection|grpc-node-server-reflection]
// Prints "listening HOST:PORT" once it serves; stops on SIGTERM or when
// stdin closes, so that it never outlives the test that started it.
'use strict';

const path = require('path');
const grpc = require('@grpc/grpc-js');
const protoLoader = require('@grpc/proto-loader');

const addr = process.argv[2];
const reflection = process.argv[3] || '@grpc/reflection';
if (!addr || !['@grpc/reflection', 'grpc-node-server-reflection'].includes(reflection)) {
  console.error('usage: node server.js HOST:PORT [@grpc/reflection|grpc-node-server-reflection]');
  process.exit(2);
}

const definition = protoLoader.loadSync('shop/inventory/v1/inventory.proto', {
  includeDirs: [path.join(__dirname, 'proto')],
  longs: String,
  enums: String,
  defaults: false,
  oneofs: true,
});
const inventory = grpc.loadPackageDefinition(definition).shop.inventory.v1;

const handlers = {
  Get(call, callback) {
    callback(null, call.request.item || {});
  },
  Watch(call) {
    for (const item of call.request.items || []) {
      call.write(item);
    }
    call.end();
  },
  Upload(call, callback) {
    const list = { items: [], bySku: {} };
    call.on('data', (item) => {
      list.items.push(item);
      list.bySku[item.sku] = item;
    });
    call.on('end', () => callback(null, list));
  },
  Sync(call) {
    call.on('data', (item) => call.write(item));
    call.on('end', () => call.end());
  },
};

let server;
if (reflection === '@grpc/reflection') {
  const { ReflectionService } = require('@grpc/reflection');
  server = new grpc.Server();
  new ReflectionService(definition).addToServer(server);
} else {
  // It serves the services added after it wraps the server.
  server = require('grpc-node-server-reflection').default(new grpc.Server());
}
server.addService(inventory.Inventory.service, handlers);
server.bindAsync(addr, grpc.ServerCredentials.createInsecure(), (err) => {
  if (err) {
    console.error(`binding ${addr}: ${err.message}`);
    process.exit(1);
  }
  console.log(`listening ${addr}`);
});

const stop = () => server.tryShutdown(() => process.exit(0));
process.on('SIGTERM', stop);
process.stdin.on('end', stop);
process.stdin.resume();
