export { defineResource, type ResourceDef } from './resource.js';
export { ResourceScope } from './scope.js';
