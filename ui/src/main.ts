import { mount } from 'svelte';
import App from './App.svelte';
import { adoptBridgeToken } from './lib/bridge-token';
import './fonts.css';
import './app.css';
import './tables.css';

const target = document.getElementById('app');
if (!target) {
  throw new Error('index.html has no #app element to mount Qafila into');
}

// Before the app mounts and navigates: the bridge's token leaves the address bar.
adoptBridgeToken();

export default mount(App, { target });
