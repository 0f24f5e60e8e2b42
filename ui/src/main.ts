import { mount } from 'svelte';
import App from './App.svelte';
import './fonts.css';
import './app.css';
import './tables.css';

const target = document.getElementById('app');
if (!target) {
  throw new Error('index.html has no #app element to mount Qafila into');
}

export default mount(App, { target });
